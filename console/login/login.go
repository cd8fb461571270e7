// Package login turns what a user pastes into the web console's login form (a bearer token, or
// a kubeconfig with a token or a client certificate in it) into a client configuration for that
// user, checks it against the API server and learns who the user is.
//
// Only credentials held in the pasted text are taken: nothing that runs a program (exec
// plugins, auth providers) or reads a file on the console's disk. The API server's address and
// CA always come from the console's own configuration, never from the kubeconfig, so the console
// cannot be turned into a proxy to other servers.
package login

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
)

// Request is the login form's content: a token, or a kubeconfig and optionally the name of one
// of its contexts (default: its current context).
type Request struct {
	Token      string `json:"token,omitempty"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
}

// Result is a logged-in user.
type Result struct {
	// Config makes requests as the user.
	Config *rest.Config
	// Namespace is the kubeconfig context's namespace, else "default".
	Namespace string
	User      User
}

// Error is a login failure with the HTTP status that fits it: 400 for a malformed request or
// kubeconfig, 401 when the API server refuses the credentials, 502 when it cannot be asked.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// Login checks the credentials of request against the API server of base (its address and CA,
// without credentials) and returns the user they stand for. Errors are *Error.
func Login(ctx context.Context, base *rest.Config, request Request) (*Result, error) {
	result, err := configFor(base, request)
	if err != nil {
		return nil, err
	}
	if result.User, err = Identify(ctx, result.Config); err != nil {
		return nil, err
	}
	return result, nil
}

// configFor is the user's configuration, not yet checked against the API server.
func configFor(base *rest.Config, request Request) (*Result, error) {
	token, kubeconfig := strings.TrimSpace(request.Token), strings.TrimSpace(request.Kubeconfig)
	switch {
	case token != "" && kubeconfig != "":
		return nil, badRequest("give either a token or a kubeconfig, not both")
	case token != "":
		if request.Context != "" {
			return nil, badRequest("context: only a kubeconfig has contexts")
		}
		return fromToken(base, token)
	case kubeconfig != "":
		return fromKubeconfig(base, []byte(kubeconfig), request.Context)
	default:
		return nil, badRequest("give a token or a kubeconfig")
	}
}

// fromToken is the configuration of a bearer token (a leading "Bearer " is dropped).
func fromToken(base *rest.Config, token string) (*Result, error) {
	token = strings.TrimSpace(strings.TrimPrefix(token, "Bearer "))
	if err := checkToken(token); err != nil {
		return nil, badRequest("token: %v", err)
	}
	config := userConfig(base)
	config.BearerToken = token
	return &Result{Config: config, Namespace: "default"}, nil
}

// checkToken refuses what cannot be a bearer token in an Authorization header.
func checkToken(token string) error {
	if token == "" {
		return fmt.Errorf("empty")
	}
	for _, c := range token {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("contains a space or a character that is not printable ASCII")
		}
	}
	return nil
}

// userConfig is base's address and CA alone, ready for the user's credentials.
func userConfig(base *rest.Config) *rest.Config {
	return &rest.Config{
		Host:    base.Host,
		APIPath: base.APIPath,
		TLSClientConfig: rest.TLSClientConfig{
			ServerName: base.ServerName,
			CAFile:     base.CAFile,
			CAData:     base.CAData,
		},
		UserAgent: "ferrite-console",
		QPS:       -1, // the API server's own limits apply; the console adds none
	}
}
