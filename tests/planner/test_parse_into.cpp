// parse_step_into with one Step reused across many different responses must give exactly what
// parse_step gives for each (every field, the same ParseError), and an empty Step after an error:
// nothing of an earlier response may leak into a later one.
#include <QDir>
#include <QFile>
#include <QtTest>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planner/parser.h"

using namespace deskpilot;
using namespace deskpilot::planner;
using nlohmann::json;

namespace {

struct Case {
    std::string text;
    const ModelFamily* family = nullptr;
    vision::Size screen;
    double scale = 1.0;
};

std::string dump(const Step& step) {
    json j = to_json(step);
    j["raw"] = step.raw;
    for (std::size_t i = 0; i < step.actions.size(); ++i)
        j["actions"][i]["out_of_range"] = step.actions[i].out_of_range;
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Parses c into `reused` and compares with a fresh parse_step; "" when they agree.
std::string mismatch(const Case& c, Step& reused) {
    const CoordinateMapper mapper(*c.family, c.screen, c.scale);
    Step fresh;
    std::string fresh_error;
    try {
        fresh = parse_step(c.text, mapper);
    } catch (const ParseError& e) {
        fresh_error = e.what();
    }
    try {
        parse_step_into(c.text, mapper, reused);
    } catch (const ParseError& e) {
        if (fresh_error.empty())
            return "parse_step_into threw, parse_step did not: " + std::string(e.what());
        if (fresh_error != e.what())
            return "different errors: '" + fresh_error + "' vs '" + e.what() + "'";
        if (!(reused == Step{})) return "not empty after an error: " + dump(reused);
        return {};
    }
    if (!fresh_error.empty()) return "parse_step threw, parse_step_into did not: " + fresh_error;
    if (!(reused == fresh)) return "fresh " + dump(fresh) + "\nreused " + dump(reused);
    return {};
}

// The fuzz target's input encoding (tests/fuzz/planner_parser_fuzzer.cpp).
bool decode_fuzz_input(const QByteArray& data, Case& c) {
    if (data.size() < 5) return false;
    const auto* d = reinterpret_cast<const std::uint8_t*>(data.constData());
    const auto families = all_families();
    c.family = &families[d[0] % families.size()];
    c.screen = {100 + (d[1] | (d[2] << 8)) % 4000, 100 + (d[3] | (d[4] << 8)) % 3000};
    c.scale = (d[0] & 0x80) ? 1.5 : 1.0;
    c.text.assign(data.constData() + 5, static_cast<std::size_t>(data.size() - 5));
    return true;
}

// Very different responses: several actions with every field set (long strings, keys, an
// out-of-range point with its warning, an ignored argument), errors (in the grammar, and in a
// later action after earlier ones were built), fewer actions, other layouts.
std::vector<Case> hand_written() {
    const ModelFamily* f15 = find_family("ui-tars-1.5");
    const ModelFamily* f10 = find_family("ui-tars-1.0");
    const vision::Size hd{1920, 1080};
    return {
        {"<think>a long private chain of reasoning that is well past any small-string "
         "buffer</think>"
         "Reflection: the previous click missed the button by a long way, try again\n"
         "Action_Summary: type the long query, open a tab, scroll and open the calculator app\n"
         "Action: type(content='a long text typed into the search box, past SSO\\n')\n\n"
         "hotkey(key='Ctrl Shift T', extra='ignored')\n\n"
         "scroll(start_box='(5000,5000)', direction='Down')\n\n"
         "open_app(app_name='Calculator with a long name')",
         f15, hd},
        {"Action: frobnicate(start_box='(1,2)')", f15, hd},
        {"Action: click(start_box='(10,10)')", f15, hd},
        {"Thought: first ok\nAction: type(content='abcdefghijklmnopqrstuvwxyz')\n\nclick()", f15,
         hd},
        {"Thought: t\nAction: drag(start_box='(1,1)', end_box='(2,2)')\n\nwait()", f10, hd},
        {"<Thought>o1 thinking here</Thought>\nAction_Summary: the summary\nAction: "
         "finished(content='all done')\n</Output>",
         f10, hd},
        {"", f15, hd},
        {"Action: press(key='enter')\n\nrelease(key='shift')\n\ncall_user(content='help')", f15,
         hd},
        {"<seed:tool_call><function=click><parameter=point><point>17 58</point></parameter>"
         "</function><function=type><parameter=content>hi</parameter></function></seed:tool_call>",
         find_family("doubao"),
         {2560, 1440},
         1.5},
        {"Thought: unclosed\nAction: click(start_box='(1,1)'", f15, hd},
    };
}

}  // namespace

class ParseIntoTest : public QObject {
    Q_OBJECT
  private:
    std::vector<Case> golden_, corpus_;

  private slots:
    void initTestCase() {
        QFile file(QStringLiteral(DESKPILOT_TEST_DATA_DIR "/planner/golden_vectors.json"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const json vectors = json::parse(file.readAll().toStdString())["vectors"];
        for (const json& v : vectors)
            for (const auto& [key, expected] : v["steps"].items()) {
                const std::size_t at = key.find('@');
                Case c{v["text"].get<std::string>(), find_family(key.substr(0, at)), {}, 1.0};
                QVERIFY(c.family);
                QVERIFY(std::sscanf(key.c_str() + at + 1, "%dx%d", &c.screen.width,
                                    &c.screen.height) == 2);
                golden_.push_back(std::move(c));
            }
        const QDir dir(QStringLiteral(DESKPILOT_SOURCE_DIR "/tests/fuzz/planner"));
        for (const QString& name : dir.entryList(QDir::Files)) {
            QFile input(dir.filePath(name));
            QVERIFY(input.open(QIODevice::ReadOnly));
            Case c;
            if (decode_fuzz_input(input.readAll(), c)) corpus_.push_back(std::move(c));
        }
        QVERIFY(golden_.size() >= 1500);
        QVERIFY(corpus_.size() >= 100);
    }

    // Every hand-written response after every other one (and after itself), into one Step.
    void everyPairOfHandWrittenResponses() {
        const std::vector<Case> cases = hand_written();
        int errors = 0, several = 0;
        Step reused;
        for (const Case& first : cases)
            for (const Case& second : cases) {
                for (const Case* c : {&first, &second}) {
                    const std::string problem = mismatch(*c, reused);
                    QVERIFY2(problem.empty(),
                             qPrintable(QString::fromStdString(c->text + "\n" + problem)));
                }
                errors += reused.raw.empty();
                several += reused.actions.size() > 1;
            }
        QVERIFY(errors > 0 && several > 0);  // the sequence really mixes errors and several actions
    }

    // All golden responses and the fuzz corpus, interleaved, forwards and backwards, one Step.
    void goldenAndCorpusThroughOneStep() {
        std::vector<const Case*> order;
        const std::size_t n = std::max(golden_.size(), corpus_.size());
        for (std::size_t i = 0; i < n; ++i) {
            if (i < golden_.size()) order.push_back(&golden_[i]);
            if (i < corpus_.size()) order.push_back(&corpus_[i]);
        }
        const std::size_t forward = order.size();
        for (std::size_t i = forward; i-- > 0;) order.push_back(order[i]);
        Step reused;
        int errors = 0, several = 0;
        for (const Case* c : order) {
            const std::string problem = mismatch(*c, reused);
            QVERIFY2(
                problem.empty(),
                qPrintable(QString::fromStdString(
                    std::string(c->family->name) + " " + std::to_string(c->screen.width) + "x" +
                    std::to_string(c->screen.height) + ": " + c->text + "\n" + problem)));
            errors += reused.raw.empty() && !c->text.empty();
            several += reused.actions.size() > 1;
        }
        QVERIFY(errors > 10);
        QVERIFY(several > 10);
    }

    // The point of the API: a Step kept across responses keeps its buffers.
    void reusesCapacity() {
        const CoordinateMapper mapper(*find_family("ui-tars-1.5"), {1920, 1080});
        const std::string long_text =
            "Thought: a thought long enough to need the heap, well past the small buffer\n"
            "Action: type(content='some text that also lives on the heap, not inline')\n\n"
            "click(start_box='(1,2)')\n\nclick(start_box='(3,4)')";
        Step step;
        parse_step_into(long_text, mapper, step);
        QCOMPARE(step.actions.size(), std::size_t{3});
        const char* raw = step.raw.data();
        const char* thought = step.thought.data();
        const char* text = step.actions[0].text.data();
        const Action* actions = step.actions.data();
        parse_step_into("Thought: short\nAction: type(content='x')", mapper, step);
        QCOMPARE(step.actions.size(), std::size_t{1});
        QCOMPARE(step.actions[0].text, std::string("x"));
        QVERIFY(step.raw.data() == raw && step.thought.data() == thought);
        QVERIFY(step.actions.data() == actions && step.actions[0].text.data() == text);
        QVERIFY_EXCEPTION_THROWN(parse_step_into("Action: nope()", mapper, step), ParseError);
        QVERIFY(step == Step{});
        QVERIFY(step.raw.data() == raw && step.actions.capacity() >= 3);
    }
};

QTEST_GUILESS_MAIN(ParseIntoTest)
#include "test_parse_into.moc"
