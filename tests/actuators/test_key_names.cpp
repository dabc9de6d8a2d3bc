// Key names and UTF-8 decoding: pure functions, no X server needed.
#include <QtTest>

#include <X11/keysym.h>

#include <algorithm>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "actuators/key_names.h"

using namespace deskpilot::actuators;

class KeyNamesTest : public QObject {
    Q_OBJECT
  private slots:
    void everyNamedKeyOfTheIssue() {
        const std::vector<std::pair<const char*, KeySym>> cases = {{"ctrl", XK_Control_L},
                                                                   {"control", XK_Control_L},
                                                                   {"shift", XK_Shift_L},
                                                                   {"alt", XK_Alt_L},
                                                                   {"meta", XK_Super_L},
                                                                   {"super", XK_Super_L},
                                                                   {"win", XK_Super_L},
                                                                   {"cmd", XK_Super_L},
                                                                   {"command", XK_Super_L},
                                                                   {"enter", XK_Return},
                                                                   {"return", XK_Return},
                                                                   {"tab", XK_Tab},
                                                                   {"esc", XK_Escape},
                                                                   {"escape", XK_Escape},
                                                                   {"backspace", XK_BackSpace},
                                                                   {"delete", XK_Delete},
                                                                   {"del", XK_Delete},
                                                                   {"space", XK_space},
                                                                   {"home", XK_Home},
                                                                   {"end", XK_End},
                                                                   {"pageup", XK_Page_Up},
                                                                   {"pagedown", XK_Page_Down},
                                                                   {"up", XK_Up},
                                                                   {"down", XK_Down},
                                                                   {"left", XK_Left},
                                                                   {"right", XK_Right},
                                                                   {"arrowup", XK_Up},
                                                                   {"arrowdown", XK_Down},
                                                                   {"arrowleft", XK_Left},
                                                                   {"arrowright", XK_Right},
                                                                   {"insert", XK_Insert},
                                                                   {"f1", XK_F1},
                                                                   {"f12", XK_F12},
                                                                   {"f13", XK_F13},
                                                                   {"f24", XK_F24},
                                                                   {"capslock", XK_Caps_Lock},
                                                                   {"printscreen", XK_Print}};
        for (const auto& [name, sym] : cases) {
            QCOMPARE(keysym_for_key_name(name), std::optional<KeySym>(sym));
            std::string upper = name;
            for (auto& c : upper)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            QVERIFY2(keysym_for_key_name(upper) == std::optional<KeySym>(sym), upper.c_str());
        }
        QCOMPARE(keysym_for_key_name("PageDown"), std::optional<KeySym>(XK_Page_Down));
    }

    void singleCharacters() {
        QCOMPARE(keysym_for_key_name("a"), std::optional<KeySym>(XK_a));
        QCOMPARE(keysym_for_key_name("A"), std::optional<KeySym>(XK_a));  // ctrl+A is ctrl+a
        QCOMPARE(keysym_for_key_name("5"), std::optional<KeySym>(XK_5));
        QCOMPARE(keysym_for_key_name("/"), std::optional<KeySym>(XK_slash));
        QCOMPARE(keysym_for_key_name("ü"), std::optional<KeySym>(XK_udiaeresis));
        QCOMPARE(keysym_for_key_name("世"), std::optional<KeySym>(0x1000000 + 0x4e16));
    }

    void unknownNames() {
        for (const char* bad : {"", "f0", "f25", "ctrlx", "hyperdrive", "ab", "\n", "\xff"})
            QVERIFY2(!keysym_for_key_name(bad).has_value(), bad);
    }

    // The list the engine's action grammar holds hotkeys to: every name keysym_for_key_name
    // knows besides single characters, and each one the grammar can spell (lower-case letters,
    // digits and '_', at most 16), so that none is left out there.
    void theListOfNames() {
        const std::vector<std::string> names = key_name_list();
        QCOMPARE(names.size(), std::size_t(33 + 24));  // the named keys and f1..f24
        QVERIFY(std::is_sorted(names.begin(), names.end()));
        for (const char* name : {"ctrl", "pagedown", "arrowleft", "f1", "f24", "printscreen"})
            QVERIFY2(std::find(names.begin(), names.end(), name) != names.end(), name);
        for (const std::string& name : names) {
            QVERIFY2(keysym_for_key_name(name).has_value(), name.c_str());
            QVERIFY2(name.size() >= 2 && name.size() <= 16, name.c_str());
            for (char ch : name)
                QVERIFY2((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_',
                         name.c_str());
        }
    }

    void codepoints() {
        QCOMPARE(keysym_for_codepoint(U'\n'), std::optional<KeySym>(XK_Return));
        QCOMPARE(keysym_for_codepoint(U'\t'), std::optional<KeySym>(XK_Tab));
        QCOMPARE(keysym_for_codepoint(U'é'), std::optional<KeySym>(XK_eacute));
        QCOMPARE(keysym_for_codepoint(U'—'), std::optional<KeySym>(0x1000000 + 0x2014));
        QVERIFY(!keysym_for_codepoint(0x01).has_value());
        QVERIFY(!keysym_for_codepoint(0x7f).has_value());
    }

    void utf8() {
        QCOMPARE(decode_utf8("Grüße ✓ 😀"),
                 (std::vector<char32_t>{U'G', U'r', U'ü', U'ß', U'e', U' ', U'✓', U' ', U'😀'}));
        for (const char* bad : {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
            try {
                decode_utf8(bad);
                QFAIL(bad);
            } catch (const ActuatorError& e) {
                QVERIFY2(QString(e.what()).contains("UTF-8"), e.what());
            }
        }
    }
};

QTEST_APPLESS_MAIN(KeyNamesTest)
#include "test_key_names.moc"
