package apiserver

import (
	"net/http"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// anonymousPaths are the only paths a request without credentials may reach: health checks
// of load balancers and kubelets.
var anonymousPaths = map[string]bool{"/livez": true, "/readyz": true, "/healthz": true}

// refuseAnonymous makes requests without a valid credential fail authentication (401) except
// on health paths. The generic delegating options always add an anonymous authenticator,
// which would turn such requests into system:anonymous and a 403 instead.
func refuseAnonymous(inner authenticator.Request) authenticator.Request {
	if inner == nil {
		return nil
	}
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		response, ok, err := inner.AuthenticateRequest(req)
		if ok && response.User.GetName() == user.Anonymous && !anonymousPaths[req.URL.Path] {
			return nil, false, nil
		}
		return response, ok, err
	})
}
