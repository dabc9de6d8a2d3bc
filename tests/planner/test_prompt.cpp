// Prompt templates (published text, per family, English/Chinese, narrowed action space) and the
// conversation builder (last N screenshots, Reflection stripped, user turns).
#include <QtTest>

#include "planner/conversation.h"
#include "planner/parser.h"

using namespace deskpilot;
using namespace deskpilot::planner;

namespace {

std::shared_ptr<const vision::Frame> frame(int tag) {
    auto f = std::make_shared<vision::Frame>();
    f->width = 4;
    f->height = 2;
    f->stride = 16;
    f->pixels =
        std::make_shared<const std::vector<std::uint8_t>>(32, static_cast<std::uint8_t>(tag));
    return f;
}

QString q(std::string_view s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

}  // namespace

class PromptTest : public QObject {
    Q_OBJECT
  private slots:
    void everyFamilyHasEveryTemplate() {
        for (const ModelFamily& family : all_families())
            for (PromptKind kind :
                 {PromptKind::computer, PromptKind::mobile, PromptKind::grounding}) {
                const std::string prompt =
                    render_prompt(family, {.kind = kind}, "Open the settings");
                QVERIFY2(prompt.starts_with("You are a GUI agent."), family.name.data());
                QVERIFY(prompt.ends_with("Open the settings") ||
                        prompt.ends_with("Open the settings\n"));
                QVERIFY(!q(prompt).contains("{instruction}") && !q(prompt).contains("{language}"));
            }
    }

    // The published UI-TARS-1.5 computer template, as the model was trained with it.
    void uiTars15ComputerIsThePublishedText() {
        const std::string p = render_prompt(*find_family("ui-tars-1.5"), {}, "Save the file");
        QVERIFY(
            q(p).contains("## Action Space\n\nclick(start_box='<|box_start|>(x1,y1)<|box_end|>')\n"
                          "left_double(start_box='<|box_start|>(x1,y1)<|box_end|>')\n"));
        QVERIFY(q(p).contains(
            "type(content='xxx') # Use escape characters \\', \\\", and \\n in content part to "
            "ensure "
            "we can parse the content in normal python string format. If you want to submit your "
            "input, use \\n at the end of content. \n"));
        QVERIFY(q(p).contains("## Note\n- Use English in `Thought` part.\n"));
        QVERIFY(p.ends_with("## User Instruction\nSave the file\n"));
    }

    void doubaoUsesPointTags() {
        const std::string p =
            render_prompt(*find_family("doubao"), {.kind = PromptKind::mobile}, "x");
        QVERIFY(q(p).contains("long_press(point='<point>x1 y1</point>')\n"));
        QVERIFY(q(p).contains("open_app(app_name='')\n"));
        const std::string g =
            render_prompt(*find_family("doubao"), {.kind = PromptKind::grounding}, "the OK button");
        QVERIFY(q(g).contains("## Output Format\n\nAction: ...\n"));
    }

    void chineseSelectsTheThoughtLanguage() {
        const std::string p = render_prompt(*find_family("ui-tars-1.5"),
                                            {.language = PromptLanguage::chinese}, "打开设置");
        QVERIFY(q(p).contains("- Use Chinese in `Thought` part."));
        QVERIFY(q(p).contains("打开设置"));
    }

    void actionSpaceCanBeNarrowed() {
        const ModelFamily& f = *find_family("ui-tars-1.5");
        QCOMPARE(template_actions(f.prompt_style, PromptKind::computer),
                 (std::vector<std::string>{"click", "left_double", "right_single", "drag", "hotkey",
                                           "type", "scroll", "wait", "finished"}));
        const std::string p = render_prompt(f, {.actions = {"click", "finished"}}, "x");
        QVERIFY(q(p).contains("click(start_box="));
        QVERIFY(q(p).contains("finished(content="));
        QVERIFY(!q(p).contains("drag("));
        QVERIFY(!q(p).contains("hotkey("));
        QVERIFY(q(p).contains("## Note"));  // the rest of the template is untouched
        try {
            render_prompt(f, {.actions = {"click", "open_app"}}, "x");
            QFAIL("no error");
        } catch (const PromptError& e) {
            QVERIFY2(QString(e.what()).contains(
                         "'open_app' is not in the ui-tars-1.5 computer template"),
                     e.what());
        }
        QVERIFY_THROWS_EXCEPTION(PromptError, prompt_kind_from_string("tablet"));
        QCOMPARE(prompt_kind_from_string("mobile"), PromptKind::mobile);
    }

    void promptsOfferOnlyActionsTheParserKnows() {
        for (const ModelFamily& f : all_families())
            for (PromptKind kind :
                 {PromptKind::computer, PromptKind::mobile, PromptKind::grounding})
                for (const std::string& name : template_actions(f.prompt_style, kind))
                    QVERIFY2(action_type_from_string(name).has_value(), name.c_str());
    }

    void reflectionIsStripped() {
        QCOMPARE(strip_reflection("Reflection: it failed\nAction_Summary: retry\nAction: wait()"),
                 std::string("Action_Summary: retry\nAction: wait()"));
        QCOMPARE(strip_reflection("Thought: t\nAction: wait()"),
                 std::string("Thought: t\nAction: wait()"));
    }

    void conversationKeepsTheLastScreenshots() {
        Conversation c(*find_family("ui-tars-1.5"), "Open the settings");
        for (int i = 0; i < 7; ++i) {
            c.add_screenshot(frame(i));
            if (i == 3) c.add_user("The user rejected the action: do not close the window.");
            if (i < 6)
                c.add_assistant("Reflection: r" + std::to_string(i) + "\nAction_Summary: s" +
                                std::to_string(i) + "\nAction: wait()");
        }
        const Request r = c.build();
        QCOMPARE(r.family, std::string("ui-tars-1.5"));
        QCOMPARE(r.messages[0].role, Role::system);
        QCOMPARE(r.messages[1].role, Role::user);
        QCOMPARE(r.messages[1].parts[0].text, c.system_prompt());
        std::vector<int> images;
        int assistants = 0;
        bool feedback = false;
        for (const Message& m : r.messages) {
            for (const ContentPart& p : m.parts) {
                if (p.kind == ContentPart::Kind::image) images.push_back(p.image->pixels->front());
                if (m.role == Role::assistant) {
                    ++assistants;
                    QVERIFY(!q(p.text).contains("Reflection"));
                    QVERIFY(q(p.text).startsWith("Action_Summary: s"));
                }
                if (q(p.text).contains("rejected")) feedback = true;
            }
        }
        QCOMPARE(images, (std::vector<int>{2, 3, 4, 5, 6}));
        QCOMPARE(assistants, 6);
        QVERIFY(feedback);
        // User parts between two assistant turns form one user turn; assistant turns whose
        // screenshots were dropped stay separate turns, as UI-TARS-desktop sends them.
        for (std::size_t i = 2; i < r.messages.size(); ++i)
            QVERIFY(!(r.messages[i].role == Role::user && r.messages[i - 1].role == Role::user));
        QCOMPARE(r.messages[2].role, Role::assistant);  // turn 0, its screenshot dropped
        QCOMPARE(r.messages[2].parts[0].text, std::string("Action_Summary: s0\nAction: wait()"));
        QCOMPARE(r.messages.back().role, Role::user);
        QCOMPARE(r.messages.back().parts.back().kind, ContentPart::Kind::image);
    }

    void conversationOptions() {
        Conversation c(*find_family("doubao"), "x", {.max_screenshots = 1, .system_message = ""});
        c.add_screenshot(frame(1));
        c.add_assistant("Thought: a\nAction: wait()");
        c.add_screenshot(frame(2));
        c.add_assistant("Thought: b\nAction: call_user()");
        c.add_user("The password is in the drawer.");
        const Request r = c.build();
        QCOMPARE(r.messages[0].role, Role::user);  // no system message
        int images = 0;
        for (const Message& m : r.messages)
            for (const ContentPart& p : m.parts) images += p.kind == ContentPart::Kind::image;
        QCOMPARE(images, 1);
        QCOMPARE(r.messages.back().parts.back().text,
                 std::string("The password is in the drawer."));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, c.add_screenshot(nullptr));
        QVERIFY_THROWS_EXCEPTION(PromptError, Conversation(*find_family("doubao"), "x",
                                                           {.prompt = {.actions = {"fly"}}}));
    }

    // A checkpoint trained with its screenshot first (deskpilot.json "screenshot_first") is asked
    // the same way: the first user turn's screenshot before the prompt, the later turns as
    // before; once that screenshot is dropped, the first turn is the prompt alone.
    void screenshotFirstLeadsTheFirstUserTurn() {
        ModelFamily family = *find_family("deskpilot-nano");
        family.screenshot_first = true;
        Conversation c(family, "Save the form", {.max_screenshots = 2});
        c.add_screenshot(frame(1));
        Request r = c.build();
        QCOMPARE(r.messages.size(), std::size_t(2));
        QCOMPARE(r.messages[1].parts.size(), std::size_t(2));
        QCOMPARE(r.messages[1].parts[0].kind, ContentPart::Kind::image);
        QCOMPARE(r.messages[1].parts[1].text, c.system_prompt());
        c.add_user("That was not the Save button.");
        c.add_assistant("Thought: t\nAction: wait()");
        c.add_screenshot(frame(2));
        r = c.build();
        QCOMPARE(r.messages[1].parts[0].image->pixels->front(), std::uint8_t(1));
        QCOMPARE(r.messages[1].parts[1].text, c.system_prompt());
        QCOMPARE(r.messages[1].parts[2].text, std::string("That was not the Save button."));
        QCOMPARE(r.messages.back().parts.back().kind, ContentPart::Kind::image);
        c.add_assistant("Thought: u\nAction: wait()");
        c.add_screenshot(frame(3));
        r = c.build();  // screenshot 1 dropped
        QCOMPARE(r.messages[1].parts.size(), std::size_t(2));
        QCOMPARE(r.messages[1].parts[0].text, c.system_prompt());
        QCOMPARE(r.messages[1].parts[1].text, std::string("That was not the Save button."));
        // The family as listed keeps the prompt first.
        Conversation plain(*find_family("deskpilot-nano"), "Save the form");
        plain.add_screenshot(frame(1));
        QCOMPARE(plain.build().messages[1].parts[0].text, plain.system_prompt());
    }
};

QTEST_GUILESS_MAIN(PromptTest)
#include "test_prompt.moc"
