// The UI-TARS response grammar: every layout and argument form, and the errors for bad input.
#include <QtTest>

#include <charconv>

#include <nlohmann/json.hpp>

#include "planner/coordinates.h"
#include "planner/grammar_detail.h"
#include "planner/parser.h"
#include "planner/python_string.h"
#include "planner/utf8.h"

using namespace deskpilot;
using namespace deskpilot::planner;

namespace {

// ui-tars-1.0 on a 1000×1000 screen: model coordinates are pixels, so tests read plainly.
Step parse(const std::string& text, const char* family = "ui-tars-1.0",
           vision::Size screen = {1000, 1000}, double scale = 1.0) {
    return parse_step(text, CoordinateMapper(*find_family(family), screen, scale));
}

// The ParseError message for text, or "" when it parses.
QString error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const ParseError& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

}  // namespace

class ParserTest : public QObject {
    Q_OBJECT
  private slots:
    void thoughtAction() {
        const Step s =
            parse("Thought: The OK button is in the dialog.\nAction: click(start_box='(410,300)')");
        QCOMPARE(s.thought, std::string("The OK button is in the dialog."));
        QVERIFY(s.reflection.empty());
        QCOMPARE(s.actions.size(), std::size_t{1});
        QCOMPARE(s.actions[0].type, ActionType::click);
        QCOMPARE(*s.actions[0].point, (vision::Point{410, 300}));
        QCOMPARE(
            s.raw,
            std::string(
                "Thought: The OK button is in the dialog.\nAction: click(start_box='(410,300)')"));
    }

    void reflectionSummaryAction() {
        const Step s = parse(
            "Reflection: The menu did not open.\nAction_Summary: Open the File menu.\nAction: "
            "click(start_box='(10,20)')");
        QCOMPARE(s.reflection, std::string("The menu did not open."));
        QCOMPARE(s.thought, std::string("Open the File menu."));
        QCOMPARE(s.actions.size(), std::size_t{1});
    }

    void summaryAction() {
        const Step s = parse("Action_Summary: Press enter.\nAction: hotkey(key='enter')");
        QCOMPARE(s.thought, std::string("Press enter."));
        QCOMPARE(s.actions[0].keys, (std::vector<std::string>{"enter"}));
    }

    void bareCall() {
        const Step s = parse("click(start_box='(5,6)')");
        QVERIFY(s.thought.empty());
        QCOMPARE(*s.actions[0].point, (vision::Point{5, 6}));
    }

    void fullWidthColon() {
        const Step s = parse("Thought：看到按钮\nAction：click(start_box='(7,8)')");
        QCOMPARE(s.thought, std::string("看到按钮"));
        QCOMPARE(*s.actions[0].point, (vision::Point{7, 8}));
    }

    void thinkBlockIsReasoning() {
        const Step s = parse(
            "<think>\nThe user wants OK.\n</think>\nThought: Click OK.\nAction: "
            "click(start_box='(1,2)')");
        QCOMPARE(s.reasoning, std::string("The user wants OK."));
        QCOMPARE(s.thought, std::string("Click OK."));
    }

    void o1Layout() {
        const Step s = parse(
            "<Thought>The dialog asks to save.</Thought>\nAction_Summary: Click Save.\nAction: "
            "click(start_box='(100,200)')\n</Output>");
        QCOMPARE(s.thought, std::string("The dialog asks to save."));
        QCOMPARE(s.summary, std::string("Click Save."));
        QCOMPARE(*s.actions[0].point, (vision::Point{100, 200}));
    }

    void lastActionMarkerWins() {
        const Step s = parse(
            "Thought: first\nAction: click(start_box='(1,1)')\nAction: click(start_box='(9,9)')");
        QCOMPARE(s.actions.size(), std::size_t{1});
        QCOMPARE(*s.actions[0].point, (vision::Point{9, 9}));
        QCOMPARE(s.thought, std::string("first"));
    }

    void markerInsideThoughtTextIsNotTheAction() {
        const Step s =
            parse("Thought: I'll open the Action: menu.\nAction: click(start_box='(3,4)')");
        QCOMPARE(*s.actions[0].point, (vision::Point{3, 4}));
    }

    void markerInsideContentIsText() {
        const Step s =
            parse("Thought: t\nAction: type(content='Action: click(start_box=\\'(1,2)\\')')");
        QCOMPARE(s.actions.size(), std::size_t{1});
        QCOMPARE(s.actions[0].text, std::string("Action: click(start_box='(1,2)')"));
    }

    void severalActionsInOrder() {
        const Step s = parse(
            "Thought: t\nAction: "
            "click(start_box='(1,1)')\n\ntype(content='abc')\n\nhotkey(key='enter')");
        QCOMPARE(s.actions.size(), std::size_t{3});
        QCOMPARE(s.actions[0].type, ActionType::click);
        QCOMPARE(s.actions[1].text, std::string("abc"));
        QCOMPARE(s.actions[2].type, ActionType::hotkey);
    }

    // More calls and arguments than the grammar keeps inline (4 calls, 8 arguments; the builder
    // looks up the names of the first 8 once): the rest spill to the heap and must read the same.
    void manyCallsAndArguments() {
        std::string text = "Thought: t\nAction: ";
        for (int call = 0; call < 7; ++call) {
            text += "drag(";
            for (int extra = 0; extra < 10; ++extra)
                text += "x" + std::to_string(extra) + "='" + std::to_string(call) + "', ";
            // The coordinates come after the 8th argument.
            text += "start_box='(" + std::to_string(call) + ",1)', end_box='(" +
                    std::to_string(call) + ",2)')\n\n";
        }
        text += "type(content='end')";
        const Step s = parse(text);
        QCOMPARE(s.actions.size(), std::size_t{8});
        for (int call = 0; call < 7; ++call) {
            QCOMPARE(s.actions[call].type, ActionType::drag);
            QCOMPARE(*s.actions[call].point, (vision::Point{call, 1}));
            QCOMPARE(*s.actions[call].end, (vision::Point{call, 2}));
        }
        QCOMPARE(s.actions[7].text, std::string("end"));
        QCOMPARE(s.warnings.size(), std::size_t{70});  // x0…x9 of each drag are ignored
        QVERIFY(QString::fromStdString(s.warnings[69]).contains("'x9' of drag"));
    }

    void seedToolCall() {
        const Step s = parse(
            "Thought: open it\n<seed:tool_call><function=click><parameter=point><point>17 "
            "58</point></parameter></function>"
            "</seed:tool_call><seed:tool_call><function=type><parameter=content>hi</parameter></"
            "function></seed:tool_call>");
        QCOMPARE(s.thought, std::string("open it"));
        QCOMPARE(s.actions.size(), std::size_t{2});
        QCOMPARE(*s.actions[0].point, (vision::Point{17, 58}));
        QCOMPARE(s.actions[1].text, std::string("hi"));
    }

    void coordinateForms_data() {
        QTest::addColumn<QString>("value");
        QTest::addColumn<int>("x");
        QTest::addColumn<int>("y");
        QTest::newRow("point") << "'(100,200)'" << 100 << 200;
        QTest::newRow("spaces") << "' ( 100 , 200 ) '" << 100 << 200;
        QTest::newRow("box") << "'(100,200,300,400)'" << 200 << 300;
        QTest::newRow("list box") << "'[100, 200, 300, 400]'" << 200 << 300;
        QTest::newRow("two points") << "'(100,200)(300,400)'" << 200 << 300;
        QTest::newRow("box tokens") << "'<|box_start|>(100,200)<|box_end|>'" << 100 << 200;
        QTest::newRow("point tag") << "'<point>100 200</point>'" << 100 << 200;
        QTest::newRow("bbox tag") << "'<bbox>100 200 300 400</bbox>'" << 200 << 300;
        QTest::newRow("decimals") << "'(100.4,199.6)'" << 100 << 200;
        QTest::newRow("double quotes") << "\"(100,200)\"" << 100 << 200;
        QTest::newRow("unquoted") << "(100,200)" << 100 << 200;
        QTest::newRow("half to even") << "'(100.5,201.5)'" << 100 << 202;
    }

    void coordinateForms() {
        QFETCH(QString, value);
        QFETCH(int, x);
        QFETCH(int, y);
        const Step s = parse("Action: click(start_box=" + value.toStdString() + ")");
        QCOMPARE(s.actions[0].point->x, x);
        QCOMPARE(s.actions[0].point->y, y);
    }

    void coordinateNumbersAreExact() {
        // The fast decimal path (up to 15 digits) and the long one must both give exactly the
        // double std::from_chars gives; a digit-by-digit sum of powers of ten would not.
        for (const char* n : {"0.1", "0.7", "1.005", "2.675", "123456.789012345", "999999999999999",
                              "0.000000000000001", "9007199254740993", "1234567890123456789.5",
                              "-0.3", "+2.5", ".5", "5.", "007.25", "-0"}) {
            std::string_view text(n);
            if (text.starts_with('+')) text.remove_prefix(1);
            double expected = 0;
            std::from_chars(text.data(), text.data() + text.size(), expected);
            const auto point = parse_model_point(std::string(n) + "," + n, nullptr);
            QVERIFY2(point.has_value(), n);
            QVERIFY2(point->x == expected && point->y == expected, n);
        }
    }

    void argumentNames() {
        Step s =
            parse("Action: drag(start_point='<point>1 2</point>', end_point='<point>3 4</point>')");
        QCOMPARE(*s.actions[0].point, (vision::Point{1, 2}));
        QCOMPARE(*s.actions[0].end, (vision::Point{3, 4}));
        s = parse("Action: drag(start_box='(1,2)', end_box='(3,4)')");
        QCOMPARE(*s.actions[0].end, (vision::Point{3, 4}));
        s = parse("Action: scroll(point='<point>5 6</point>', direction='UP')");
        QCOMPARE(s.actions[0].direction, std::string("up"));
        s = parse("Action: open_app(app_name='Settings')");
        QCOMPARE(s.actions[0].app_name, std::string("Settings"));
        s = parse("Action: long_press(start_box='(5,5)')");
        QCOMPARE(s.actions[0].type, ActionType::long_press);
        s = parse("Action: press(key='Shift')");
        QCOMPARE(s.actions[0].keys, (std::vector<std::string>{"shift"}));
        s = parse("Action: hotkey(key='ctrl shift t')");
        QCOMPARE(s.actions[0].keys, (std::vector<std::string>{"ctrl", "shift", "t"}));
        s = parse("Action: finished(content='Done: 3 files.')");
        QCOMPARE(s.actions[0].text, std::string("Done: 3 files."));
        s = parse("Action: call_user()");
        QCOMPARE(s.actions[0].type, ActionType::call_user);
        s = parse("Action: wait()\n\npress_home()\n\npress_back()");
        QCOMPARE(s.actions.size(), std::size_t{3});
    }

    void contentIsAPythonString_data() {
        QTest::addColumn<QString>("literal");
        QTest::addColumn<QString>("text");
        QTest::newRow("escaped quote") << "'It\\'s'"
                                       << "It's";
        QTest::newRow("escaped double") << "'say \\\"hi\\\"'"
                                        << "say \"hi\"";
        QTest::newRow("newline escape") << "'line\\n'"
                                        << "line\n";
        QTest::newRow("backslash") << "'C:\\\\Users'"
                                   << "C:\\Users";
        QTest::newRow("comma equals parens") << "'a, b=c (d)'"
                                             << "a, b=c (d)";
        QTest::newRow("literal newline") << "'one\ntwo'"
                                         << "one\ntwo";
        QTest::newRow("unescaped apostrophe") << "'I'm here'"
                                              << "I'm here";
        QTest::newRow("apostrophe then comma") << "'it's, ok'"
                                               << "it's, ok";
        QTest::newRow("double quoted") << "\"it's\""
                                       << "it's";
        QTest::newRow("unicode") << "'caf\\u00e9 ü'"
                                 << "café ü";
        QTest::newRow("unknown escape kept") << "'a\\qb'"
                                             << "a\\qb";
        QTest::newRow("empty") << "''"
                               << "";
    }

    void contentIsAPythonString() {
        QFETCH(QString, literal);
        QFETCH(QString, text);
        const Step s = parse("Thought: t\nAction: type(content=" + literal.toStdString() + ")");
        QCOMPARE(QString::fromStdString(s.actions[0].text), text);
    }

    void truncatedClosingParenIsAccepted() {
        const Step s = parse("Action: click(start_box='(1,2)'");
        QCOMPARE(*s.actions[0].point, (vision::Point{1, 2}));
    }

    void endTokensAreIgnored() {
        const Step s = parse("Action: click(start_box='(1,2)')<|im_end|>");
        QCOMPARE(s.actions.size(), std::size_t{1});
    }

    void unknownArgumentIsAWarning() {
        const Step s = parse("Action: click(start_box='(1,2)', button='left')");
        QCOMPARE(s.warnings.size(), std::size_t{1});
        QVERIFY(QString::fromStdString(s.warnings[0]).contains("button"));
    }

    void errors_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty") << "   "
                               << "empty";
        QTest::newRow("no action") << "Thought: nothing to do"
                                   << "no 'Action:'";
        QTest::newRow("marker without call") << "Action: I will click"
                                             << "not followed by an action call";
        QTest::newRow("unknown action") << "Action: clik(start_box='(1,2)')"
                                        << "unknown action 'clik' at offset 8";
        QTest::newRow("missing start_box") << "Action: click()"
                                           << "click needs start_box";
        QTest::newRow("missing end_box") << "Action: drag(start_box='(1,2)')"
                                         << "drag needs end_box";
        QTest::newRow("missing content") << "Action: type()"
                                         << "type needs content";
        QTest::newRow("missing key") << "Action: hotkey()"
                                     << "hotkey needs key";
        QTest::newRow("empty key") << "Action: hotkey(key='  ')"
                                   << "empty key";
        QTest::newRow("missing direction") << "Action: scroll(start_box='(1,2)')"
                                           << "scroll needs direction";
        QTest::newRow("bad direction") << "Action: scroll(start_box='(1,2)', direction='sideways')"
                                       << "sideways";
        QTest::newRow("missing app") << "Action: open_app()"
                                     << "open_app needs app_name";
        QTest::newRow("three numbers") << "Action: click(start_box='(1,2,3)')"
                                       << "found 3";
        QTest::newRow("not a number") << "Action: click(start_box='(1,abc)')"
                                      << "'abc' is not a number";
        QTest::newRow("nan") << "Action: click(start_box='(nan,1)')"
                             << "'nan' is not a number";
        QTest::newRow("huge") << "Action: click(start_box='(1" + QString(400, '9') + ",1)')"
                              << "not a usable number";
        QTest::newRow("unterminated") << "Action: type(content='abc"
                                      << "unterminated string";
        QTest::newRow("missing equals") << "Action: click(start_box '(1,2)')"
                                        << "expected '='";
        QTest::newRow("junk between args") << "Action: click(start_box=(1,2) x)"
                                           << "expected ',' or ')'";
        QTest::newRow("junk after quote") << "Action: click(start_box='(1,2)' x)"
                                          << "unterminated string";
        QTest::newRow("second of three")
            << "Action: click(start_box='(1,2)')\n\nclik(start_box='(1,2)')\n\nwait()"
            << "action 2 of 3: unknown action 'clik'";
        QTest::newRow("malformed second") << "Action: click(start_box='(1,2)')\n\ntype(content='abc"
                                          << "action 2 of 2: unterminated";
        QTest::newRow("unclosed think") << "<think>forever"
                                        << "<think> is never closed";
        QTest::newRow("nothing after think") << "<think>x</think>"
                                             << "nothing follows";
        QTest::newRow("unclosed o1 thought") << "<Thought>x\nAction: wait()"
                                             << "</Thought>";
        QTest::newRow("o1 without action") << "<Thought>x</Thought> done</Output>"
                                           << "no 'Action:'";
        QTest::newRow("seed without function") << "<seed:tool_call>junk</seed:tool_call>"
                                               << "<function=NAME>";
        QTest::newRow("seed unclosed function")
            << "<seed:tool_call><function=click><parameter=point>1 2</parameter>"
            << "no </function>";
        QTest::newRow("seed unclosed parameter")
            << "<seed:tool_call><function=click><parameter=point>1 2</function>"
            << "has no </parameter>";
        QTest::newRow("seed junk in function") << "<seed:tool_call><function=click>junk</function>"
                                               << "expected <parameter=NAME>";
        QTest::newRow("seed unclosed function tag") << "<seed:tool_call><function=click"
                                                    << "unclosed <function= tag";
        QTest::newRow("seed unknown action")
            << "<seed:tool_call><function=fly></function></seed:tool_call>"
            << "unknown action 'fly'";
        QTest::newRow("unbalanced brackets") << "Action: click(start_box=((1,2)"
                                             << "unbalanced brackets";
        QTest::newRow("argument name expected") << "Action: click(start_box=(1,2), 5)"
                                                << "expected an argument name or ')'";
        QTest::newRow("too many numbers") << "Action: click(start_box='(1,2,3,4,5)')"
                                          << "more than 4 numbers";
        QTest::newRow("last marker malformed")
            << "Action: click(start_box='(1,2)')\nAction: click(start_box="
            << "missing value";
    }

    void errors() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        const QString message = error_of(text.toStdString());
        QVERIFY2(message.contains(expected), qPrintable("got: " + message));
    }

    void errorNamesPositionAndAction() {
        try {
            parse(
                "Thought: t\nAction: click(start_box='(1,2)')\n\nright_single(start_box='(1,x)')");
            QFAIL("no error");
        } catch (const ParseError& e) {
            QCOMPARE(e.action_index(), 1);
            QCOMPARE(e.position(), std::size_t{58});
            QVERIFY2(QString(e.what()).contains("'(1,x)'"), e.what());
        }
    }

    // Error messages quote the model's text cut at a byte count, and they go into JSON results
    // and session files: a multi-byte character split by the cut must not leave a broken
    // sequence (nlohmann::json::dump throws on one; `deskpilot eval` once died of it).
    void errorExcerptsAreWellFormedUtf8() {
        std::string ellipses = ",";
        for (int i = 0; i < 30; ++i) ellipses += "\xE2\x80\xA6";  // 1 + 90 bytes; 60 cuts one
        std::string accents = "click(start_box='(a";
        for (int i = 0; i < 30; ++i) accents += "\xC3\xA9";  // a 61-byte non-number; 40 cuts
        accents += ")')";
        for (const std::string& text : {ellipses, accents}) {
            std::string message;
            try {
                parse(text);
                QFAIL("no error");
            } catch (const ParseError& e) {
                message = e.what();
            }
            QVERIFY2(utf8::first_invalid(message) == std::string::npos, message.c_str());
            QVERIFY2(message.find("\xE2\x80\xA6'") != std::string::npos, message.c_str());
            QCOMPARE(nlohmann::json(message).dump().empty(), false);  // would throw
        }
        QCOMPARE(excerpt("ab\xE2\x80", 60), std::string("ab\xE2\x80\xA6"));  // a cut sequence
        QCOMPARE(excerpt(std::string("a\xFF") + "b\n", 60), std::string("a\xEF\xBF\xBD") + "b\\n");
        QCOMPARE(excerpt("\xC3\xA9\xC3\xA9", 3), std::string("\xC3\xA9\xE2\x80\xA6"));
        QCOMPARE(excerpt("abc", 3), std::string("abc"));
    }

    void hostileInputsNeitherCrashNorHang() {
        const std::string many_markers = [] {
            std::string s;
            for (int i = 0; i < 300; ++i) s += "Action: f('";
            return s;
        }();
        QVERIFY(error_of(many_markers).contains("too many"));
        QVERIFY(!error_of(std::string(100000, '(')).isEmpty());
        QVERIFY(error_of("Action: wait()" + std::string(kMaxResponseBytes, ' '))
                    .contains("more than 1048576"));
        QVERIFY(!error_of("Action: click(start_box=" + std::string(100000, '[')).isEmpty());
        // Every quote but the last is followed by another quote, so only the last one closes.
        const Step quotes =
            parse(std::string("Action: type(content='") + std::string(100000, '\''));
        QCOMPARE(quotes.actions[0].text.size(), std::size_t{99999});
        QVERIFY(!error_of(std::string("\0\0\0", 3)).isEmpty());
    }

    // The grammar's SSE2 byte searches end with a 16-byte block overlapping the one before: every
    // length around the block size, every start, the byte at every place (or nowhere).
    void byteSearchesMatchStringFind() {
        for (std::size_t size = 0; size <= 48; ++size) {
            for (std::size_t at = 0; at <= size; ++at) {  // at == size: the byte is absent
                std::string text(size, 'x');
                if (at < size) text[at] = '<';
                if (at + 3 < size) text[at + 3] = '\\';  // a second hit after the first
                const std::string_view s = text;
                for (std::size_t from = 0; from <= size + 1; ++from) {
                    QCOMPARE(detail::find_byte(s, '<', from), s.find('<', from));
                    QCOMPARE(detail::find_either_byte(s, '\\', '<', from),
                             s.find_first_of("<\\", from));
                }
            }
        }
    }

    void pythonUnescape() {
        QCOMPARE(unescape_python("\\x41\\101\\U0001F600\\\nx"), std::string("AA\xF0\x9F\x98\x80x"));
        QCOMPARE(unescape_python("\\x4"), std::string("\\x4"));
        QCOMPARE(unescape_python("trailing\\"), std::string("trailing\\"));
    }
};

QTEST_GUILESS_MAIN(ParserTest)
#include "test_parser.moc"
