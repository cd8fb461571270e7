package proxy

import (
	"fmt"
	"net/url"
	"strings"
)

// Prefix starts the console's paths that go to the API server.
const Prefix = "/k8s/"

// apiPath is the API server path of a request to the console: u's path without Prefix,
// checked by CheckPath.
func apiPath(u *url.URL) (string, error) {
	escaped := u.EscapedPath()
	if !strings.HasPrefix(escaped, Prefix) {
		return "", fmt.Errorf("path %q is not under %s", escaped, Prefix)
	}
	return CheckPath(escaped[len(Prefix)-1:])
}

// CheckPath checks escaped, the path (in its escaped form, with a leading slash) of a request
// the console is to make to the API server, and returns it unescaped. Only paths under /api/
// and /apis/ are forwarded, without empty, "." or ".." segments, encoded slashes or
// backslashes (which the API server would read differently than this check), and without the
// proxy subresources, which would serve a pod's or node's content on the console's origin.
func CheckPath(escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", fmt.Errorf("path %q does not start with /", escaped)
	}
	rest := escaped[1:]
	if lower := strings.ToLower(rest); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(rest, `\`) {
		return "", fmt.Errorf("path %q: encoded slashes and backslashes are not forwarded", escaped)
	}
	segments := strings.Split(rest, "/")
	for i, segment := range segments {
		decoded, err := url.PathUnescape(segment)
		if err != nil {
			return "", fmt.Errorf("path %q: %v", escaped, err)
		}
		if decoded == "" || decoded == "." || decoded == ".." {
			return "", fmt.Errorf("path %q: empty, . and .. segments are not forwarded", escaped)
		}
		segments[i] = decoded
	}
	if segments[0] != "api" && segments[0] != "apis" {
		return "", fmt.Errorf("path %q: only /api/ and /apis/ are forwarded", escaped)
	}
	if proxySubresource(segments) {
		return "", fmt.Errorf("path %q: proxy subresources are not forwarded", escaped)
	}
	return "/" + strings.Join(segments, "/"), nil
}

// proxySubresource says whether segments (api/VERSION/... or apis/GROUP/VERSION/...) name a
// proxy subresource (pods, services and nodes have one) or the old proxy/ prefix.
func proxySubresource(segments []string) bool {
	i := 2 // the resource after api/VERSION
	if segments[0] == "apis" {
		i = 3
	}
	if len(segments) <= i {
		return false
	}
	if segments[i] == "proxy" {
		return true
	}
	if segments[i] == "namespaces" && len(segments) > i+2 {
		i += 2 // namespaces/NS/RESOURCE
	}
	return len(segments) > i+2 && segments[i+2] == "proxy"
}
