#include "model/remote/endpoint.h"

#include <curl/curl.h>

#include <memory>

#include "model/vlm.h"

namespace deskpilot::model::remote {

namespace {

struct UrlDeleter {
    void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::string part(CURLU* url, CURLUPart which) {
    char* value = nullptr;
    if (curl_url_get(url, which, &value, 0) != CURLUE_OK || value == nullptr) return {};
    std::string out(value);
    curl_free(value);
    return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(first, last - first + 1));
}

}  // namespace

std::string Endpoint::url(std::string_view path) const {
    std::string out = base + std::string(path);
    if (!query.empty()) out += "?" + query;
    return out;
}

Endpoint parse_endpoint(std::string_view text) {
    const std::string given = trim(text);
    auto fail = [&](const std::string& why) -> ModelError {
        // The text may hold a password; show it only without user info.
        std::string shown = given;
        if (const auto at = shown.find('@'); at != std::string::npos) {
            if (const auto scheme = shown.find("://"); scheme != std::string::npos && scheme < at)
                shown = shown.substr(0, scheme + 3) + "…@" + shown.substr(at + 1);
        }
        return ModelError("endpoint '" + shown + "': " + why);
    };
    if (given.empty())
        throw ModelError("endpoint: empty URL (expected e.g. http://localhost:8000/v1)");
    if (given.rfind("http://", 0) != 0 && given.rfind("https://", 0) != 0)
        throw fail("not an http:// or https:// URL (expected e.g. http://localhost:8000/v1)");

    std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
    if (!url) throw fail("cannot parse (out of memory)");
    if (const CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, given.c_str(), 0);
        rc != CURLUE_OK)
        throw fail(std::string("not a valid URL (") + curl_url_strerror(rc) + ")");

    const std::string scheme = part(url.get(), CURLUPART_SCHEME);
    const std::string host = part(url.get(), CURLUPART_HOST);
    const std::string port = part(url.get(), CURLUPART_PORT);
    const std::string user = part(url.get(), CURLUPART_USER);
    const std::string password = part(url.get(), CURLUPART_PASSWORD);
    std::string path = part(url.get(), CURLUPART_PATH);
    if (host.empty()) throw fail("no host in the URL");
    if (!part(url.get(), CURLUPART_FRAGMENT).empty())
        throw fail("a URL fragment ('#…') makes no sense here");

    while (!path.empty() && path.back() == '/') path.pop_back();
    for (std::string_view tail : {"/chat/completions", "/models"}) {
        if (ends_with(path, tail)) {
            path.resize(path.size() - tail.size());
            break;
        }
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (path.empty()) path = "/v1";

    Endpoint e;
    e.host = port.empty() ? host : host + ":" + port;
    e.display = scheme + "://" + e.host + path;
    std::string userinfo;
    if (!user.empty() || !password.empty())
        userinfo = user + (password.empty() ? "" : ":" + password) + "@";
    e.base = scheme + "://" + userinfo + e.host + path;
    e.query = part(url.get(), CURLUPART_QUERY);
    e.password = password;
    return e;
}

}  // namespace deskpilot::model::remote
