package login

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"
)

// TokenUser names a user logged in with a token when the API server cannot say who it is.
const TokenUser = "token user"

// identifyTimeout bounds the calls that check a login.
const identifyTimeout = 15 * time.Second

// User is who the API server takes the user for.
type User struct {
	Name   string
	Groups []string
}

// Identify asks the API server, as the user of config, who the user is: with a
// SelfSubjectReview where the server serves authentication.k8s.io/v1 (kube-apiserver), else
// (standalone ferrite-apiserver) with a GET of /apis that proves the credentials are accepted,
// naming the user after the client certificate (common name, organizations as groups) or
// TokenUser. Errors are *Error.
func Identify(ctx context.Context, config *rest.Config) (User, error) {
	ctx, cancel := context.WithTimeout(ctx, identifyTimeout)
	defer cancel()
	client, err := authenticationclient.NewForConfig(config)
	if err != nil {
		return User{}, &Error{Status: http.StatusInternalServerError, Message: err.Error()}
	}
	review, err := client.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	switch {
	case err == nil:
		info := review.Status.UserInfo
		return User{Name: info.Username, Groups: info.Groups}, nil
	case apierrors.IsUnauthorized(err):
		return User{}, refused(apiMessage(err))
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err), apierrors.IsMethodNotSupported(err):
		return fallback(ctx, config)
	default:
		return User{}, unreachable(err)
	}
}

// fallback checks the credentials with GET /apis and names the user from them.
func fallback(ctx context.Context, config *rest.Config) (User, error) {
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		return User{}, &Error{Status: http.StatusInternalServerError, Message: err.Error()}
	}
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(config.Host, "/")+"/apis", nil)
	if err != nil {
		return User{}, &Error{Status: http.StatusInternalServerError, Message: err.Error()}
	}
	request.Header.Set("Accept", "application/json")
	response, err := client.Do(request)
	if err != nil {
		return User{}, unreachable(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(response.Body, 64<<10))
	switch response.StatusCode {
	case http.StatusOK, http.StatusForbidden:
		// Forbidden: the user is known, just not allowed discovery.
	case http.StatusUnauthorized:
		return User{}, refused(statusMessage(body, response.Status))
	default:
		return User{}, unreachable(fmt.Errorf("GET /apis: %s", statusMessage(body, response.Status)))
	}
	if len(config.CertData) == 0 {
		return User{Name: TokenUser}, nil
	}
	block, _ := pem.Decode(config.CertData)
	if block == nil {
		return User{}, &Error{Status: http.StatusBadRequest, Message: "client certificate: no PEM block"}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return User{}, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("client certificate: %v", err)}
	}
	return User{Name: cert.Subject.CommonName, Groups: cert.Subject.Organization}, nil
}

func refused(message string) *Error {
	return &Error{Status: http.StatusUnauthorized, Message: "the API server refused the credentials: " + message}
}

func unreachable(err error) *Error {
	return &Error{Status: http.StatusBadGateway, Message: "asking the API server who the user is: " + err.Error()}
}

// apiMessage is the message of the API's Status in err.
func apiMessage(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// statusMessage is the message of the Status object in body, else fallback.
func statusMessage(body []byte, fallback string) string {
	var status metav1.Status
	if json.Unmarshal(body, &status) == nil && status.Message != "" {
		return status.Message
	}
	return fallback
}
