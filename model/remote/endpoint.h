// The endpoint's base URL: users write it with or without /v1 (and sometimes with the whole
// /v1/chat/completions path); every form names the same base.
#pragma once

#include <string>
#include <string_view>

namespace deskpilot::model::remote {

struct Endpoint {
    std::string base;      // scheme://[user:pass@]host[:port]/path, no trailing slash
    std::string query;     // without '?', kept for hosted endpoints that need one (api-version)
    std::string display;   // base without user info: safe for messages and logs
    std::string host;      // host[:port], for describe()
    std::string password;  // from the URL's user info, if any; a secret to redact

    // Full URL of an API path such as "/chat/completions".
    std::string url(std::string_view path) const;
    // The same URL without user info or query, for messages.
    std::string display_url(std::string_view path) const { return display + std::string(path); }
};

// Normalises an endpoint given on the command line:
//   http://host:8000, http://host:8000/ -> http://host:8000/v1  (the usual OpenAI layout)
//   http://host:8000/v1/, .../v1/chat/completions, .../v1/models -> http://host:8000/v1
//   http://host/api/v3 (any other path) -> kept as given, for hosted endpoints
// Throws ModelError naming the text when it is not an http:// or https:// URL with a host.
Endpoint parse_endpoint(std::string_view text);

}  // namespace deskpilot::model::remote
