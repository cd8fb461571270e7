// Package session keeps the web console's logged-in users on the server: random ids carried by
// an HttpOnly cookie, idle and absolute expiry, one CSRF token per session, and the checks of
// that token and of the Origin header. Sessions live in memory: restarting the console logs
// everybody out.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
)

// Default lifetimes of a session.
const (
	DefaultIdleTimeout = time.Hour
	DefaultMaxLifetime = 12 * time.Hour
)

// Session is one logged-in user.
type Session struct {
	// User and Groups name the user as the API server knows them.
	User   string
	Groups []string
	// Namespace is the user's starting namespace.
	Namespace string
	// CSRFToken must accompany the session's mutating requests.
	CSRFToken string
	// Config is the user's client configuration: the API server's address and CA from the
	// console's flags with the user's own credentials.
	Config *rest.Config
	// Transport makes requests to the API server as the user.
	Transport http.RoundTripper

	created  time.Time
	lastUsed atomic.Int64 // unix nanoseconds
	ctx      context.Context
	cancel   context.CancelFunc
}

// Context is done when the session ends (logout or expiry), so that long-running work done for
// it (a console session) stops with it.
func (s *Session) Context() context.Context { return s.ctx }

// Store holds the sessions.
type Store struct {
	// IdleTimeout ends a session not used for that long, MaxLifetime any session that old.
	IdleTimeout, MaxLifetime time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time

	mu sync.Mutex
	// sessions are keyed by the SHA-256 of their id, so that the map's lookup time says
	// nothing about the ids it holds.
	sessions map[[sha256.Size]byte]*Session
}

// NewStore returns an empty store with the default lifetimes.
func NewStore() *Store {
	return &Store{IdleTimeout: DefaultIdleTimeout, MaxLifetime: DefaultMaxLifetime, Now: time.Now,
		sessions: map[[sha256.Size]byte]*Session{}}
}

// Create stores s with a new random id and CSRF token and returns the id. It also drops
// expired sessions.
func (st *Store) Create(s *Session) (string, error) {
	id, err := randomToken()
	if err != nil {
		return "", err
	}
	if s.CSRFToken, err = randomToken(); err != nil {
		return "", err
	}
	now := st.Now()
	s.created = now
	s.lastUsed.Store(now.UnixNano())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked(now)
	st.sessions[sha256.Sum256([]byte(id))] = s
	return id, nil
}

// Get returns the live session of id and marks it used; ok is false for an unknown or expired
// id.
func (st *Store) Get(id string) (s *Session, ok bool) {
	if id == "" {
		return nil, false
	}
	key := sha256.Sum256([]byte(id))
	now := st.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok = st.sessions[key]
	if !ok {
		return nil, false
	}
	if st.expired(s, now) {
		st.deleteLocked(key, s)
		return nil, false
	}
	s.lastUsed.Store(now.UnixNano())
	return s, true
}

// Delete ends the session of id, if there is one, and returns it.
func (st *Store) Delete(id string) (*Session, bool) {
	key := sha256.Sum256([]byte(id))
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[key]
	if ok {
		st.deleteLocked(key, s)
	}
	return s, ok
}

// Sweep ends the expired sessions (call it now and then: Get and Create only look at the
// sessions they touch or sweep on logins).
func (st *Store) Sweep() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked(st.Now())
}

// Len is the number of stored sessions, expired ones not yet swept included.
func (st *Store) Len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.sessions)
}

func (st *Store) sweepLocked(now time.Time) {
	for key, s := range st.sessions {
		if st.expired(s, now) {
			st.deleteLocked(key, s)
		}
	}
}

func (st *Store) deleteLocked(key [sha256.Size]byte, s *Session) {
	delete(st.sessions, key)
	s.cancel()
}

func (st *Store) expired(s *Session, now time.Time) bool {
	lastUsed := time.Unix(0, s.lastUsed.Load())
	return now.Sub(lastUsed) >= st.IdleTimeout || now.Sub(s.created) >= st.MaxLifetime
}

// randomToken is 256 random bits, base64url-encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
