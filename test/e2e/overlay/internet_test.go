//go:build e2e

package overlay

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
)

// internetPort is the outside host's web server port.
const internetPort = 8080

// internet is the web server of the outside host: it answers every request with the address
// and port the request came from, and remembers them.
type internet struct {
	mu    sync.Mutex
	peers []netip.AddrPort
	srv   *http.Server
}

// startInternet listens on the outside host's address inside the internet namespace.
func startInternet() (*internet, error) {
	ln, err := listenIn(internetNS, fmt.Sprintf("%s:%d", internetHost, internetPort))
	if err != nil {
		return nil, err
	}
	in := &internet{}
	in.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err == nil {
			in.mu.Lock()
			in.peers = append(in.peers, peer)
			in.mu.Unlock()
		}
		fmt.Fprintf(w, "from %s\n", r.RemoteAddr)
	})}
	go func() { _ = in.srv.Serve(ln) }()
	return in, nil
}

// seen returns the request sources recorded since n requests.
func (in *internet) since(n int) []netip.AddrPort {
	in.mu.Lock()
	defer in.mu.Unlock()
	if n > len(in.peers) {
		return nil
	}
	return append([]netip.AddrPort(nil), in.peers[n:]...)
}

func (in *internet) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.peers)
}

func (in *internet) stop() { _ = in.srv.Close() }

// listenIn opens a TCP listener inside network namespace ns. The thread that enters ns is never
// unlocked, so it ends with its goroutine and nothing else ever runs in ns; the socket stays
// there.
func listenIn(ns, address string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		handle, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(handle)
			handle.Close()
		}
		if err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := net.Listen("tcp", address)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

// fetchFromInternet asks url with curl from the outside host and returns the body.
func fetchFromInternet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", internetNS, "curl", "-sS", "--max-time", "5", url).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("curl %s from the internet: %v: %s", url, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
