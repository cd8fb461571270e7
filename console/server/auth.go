package server

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/console/jsonreply"
	"github.com/ferrite-dev/ferrite/console/login"
	"github.com/ferrite-dev/ferrite/console/session"
)

// maxLoginBody bounds the login request (a kubeconfig with a few certificates fits many times).
const maxLoginBody = 1 << 20

// SessionInfo is the body of /auth/session and of a successful /auth/login.
type SessionInfo struct {
	User      string   `json:"user"`
	Groups    []string `json:"groups"`
	Namespace string   `json:"namespace"`
	CSRFToken string   `json:"csrfToken"`
}

func info(s *session.Session) SessionInfo {
	groups := s.Groups
	if groups == nil {
		groups = []string{}
	}
	return SessionInfo{User: s.User, Groups: groups, Namespace: s.Namespace, CSRFToken: s.CSRFToken}
}

// currentSession answers GET /auth/session.
func (s *Server) currentSession(w http.ResponseWriter, r *http.Request) {
	if !session.Safe(r.Method) {
		jsonreply.Error(w, http.StatusMethodNotAllowed, "/auth/session takes GET")
		return
	}
	current, ok := s.config.Sessions.FromRequest(r)
	if !ok {
		jsonreply.Error(w, http.StatusUnauthorized, "not logged in")
		return
	}
	jsonreply.Write(w, http.StatusOK, info(current))
}

// login answers POST /auth/login: it checks the credentials against the API server, replaces
// any session the browser had with a new one and sets its cookie. A login needs no CSRF token
// (there is no session yet), but a JSON body, which a cross-site form cannot send, and a
// same-origin Origin when the browser sends one.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		jsonreply.Error(w, http.StatusMethodNotAllowed, "/auth/login takes POST")
		return
	}
	if err := session.CheckOrigin(r, false); err != nil {
		jsonreply.Error(w, http.StatusForbidden, err.Error())
		return
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/json" {
		jsonreply.Error(w, http.StatusUnsupportedMediaType, "the login body must be JSON (Content-Type: application/json)")
		return
	}
	var request login.Request
	decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&request); err != nil {
		jsonreply.Error(w, http.StatusBadRequest, "login body: "+err.Error())
		return
	}
	result, err := login.Login(r.Context(), s.config.API, request)
	if err != nil {
		status := http.StatusInternalServerError
		var loginErr *login.Error
		if errors.As(err, &loginErr) {
			status = loginErr.Status
		}
		s.config.Log.Info("login failed", "remote", r.RemoteAddr, "status", status, "reason", err.Error())
		jsonreply.Error(w, status, err.Error())
		return
	}
	transport, err := rest.TransportFor(result.Config)
	if err != nil {
		s.config.Log.Error("login: building the user's transport", "user", result.User.Name, "err", err)
		jsonreply.Error(w, http.StatusInternalServerError, "building the connection to the API server: "+err.Error())
		return
	}
	// A new id on every login: an id the browser had before (perhaps planted) is dropped.
	if old, ok := s.config.Sessions.Delete(session.ID(r)); ok {
		s.config.Log.Info("logout", "user", old.User, "remote", r.RemoteAddr, "reason", "new login")
	}
	created := &session.Session{User: result.User.Name, Groups: result.User.Groups, Namespace: result.Namespace,
		Config: result.Config, Transport: transport}
	id, err := s.config.Sessions.Create(created)
	if err != nil {
		jsonreply.Error(w, http.StatusInternalServerError, "creating the session: "+err.Error())
		return
	}
	method := "token"
	if len(result.Config.CertData) > 0 {
		method = "client certificate"
	}
	s.config.Log.Info("login", "user", created.User, "groups", created.Groups, "method", method, "remote", r.RemoteAddr)
	session.SetCookie(w, id)
	jsonreply.Write(w, http.StatusOK, info(created))
}

// logout answers POST /auth/logout: with the session's CSRF token it ends the session. Without
// a live session there is nothing to end; the cookie is cleared all the same.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		jsonreply.Error(w, http.StatusMethodNotAllowed, "/auth/logout takes POST")
		return
	}
	current, ok := s.config.Sessions.FromRequest(r)
	if ok {
		if err := session.CheckOrigin(r, false); err != nil {
			jsonreply.Error(w, http.StatusForbidden, err.Error())
			return
		}
		if !current.CheckCSRF(r.Header.Get(session.CSRFHeader)) {
			jsonreply.Error(w, http.StatusForbidden, "header "+session.CSRFHeader+" is missing or is not the session's CSRF token")
			return
		}
		s.config.Sessions.Delete(session.ID(r))
		s.config.Log.Info("logout", "user", current.User, "remote", r.RemoteAddr)
	}
	session.ClearCookie(w)
	w.WriteHeader(http.StatusNoContent)
}
