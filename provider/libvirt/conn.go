package libvirt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"libvirt.org/go/libvirt"
)

// The connection to libvirt: one connection, reopened with backoff whenever libvirtd goes away
// (its close callback or a keepalive timeout says so), with the domain event callbacks registered
// again and the provider's state synced from the domains after each reconnect. While there is no
// connection every call answers UNAVAILABLE.

var (
	eventLoopOnce sync.Once
	eventLoopErr  error
)

// startEventLoop registers libvirt's default event loop implementation and runs it for the rest of
// the process: domain events, keepalives, close callbacks and console streams need it. It must run
// before the first connection is opened. It fails when libvirt cannot be loaded.
func startEventLoop() error {
	eventLoopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			eventLoopErr = fmt.Errorf("libvirt: registering the event loop: %w", err)
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					klog.Background().Error(err, "libvirt event loop")
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	})
	return eventLoopErr
}

// eventHandlers receive libvirt's domain events. They run on the event loop and must not block:
// they only queue work.
type eventHandlers struct {
	// lifecycle reports a domain started, stopped, was defined, undefined, suspended...
	lifecycle func(domainName string, event libvirt.DomainEventType, detail int)
	// reboot reports the guest reset (a reboot, by the guest or by the provider).
	reboot func(domainName string)
	// deviceRemoved reports the guest released a hot-unplugged device.
	deviceRemoved func(domainName, alias string)
}

// conn keeps a libvirt connection open.
type conn struct {
	uri    string
	log    klog.Logger
	events eventHandlers
	// synced runs after every (re)connect: the provider rebuilds its machines from the domains.
	// A failure closes the connection and retries.
	synced func(*libvirt.Connect) error

	mu sync.Mutex
	c  *libvirt.Connect // nil while disconnected
	// lost is closed when the current connection closes.
	lost chan struct{}
	// retired are the connections dropped since the provider started.
	retired []*libvirt.Connect
}

// errUnavailable is what calls get while the provider has no connection to libvirt.
var errUnavailable = status.Error(codes.Unavailable, "libvirt is not connected; retrying")

// get returns the current connection, or UNAVAILABLE.
func (c *conn) get() (*libvirt.Connect, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil, errUnavailable
	}
	return c.c, nil
}

// connectOnce opens a connection and registers the callbacks.
func (c *conn) connectOnce() (*libvirt.Connect, chan struct{}, error) {
	lv, err := libvirt.NewConnect(c.uri)
	if err != nil {
		return nil, nil, err
	}
	lost := make(chan struct{})
	var once sync.Once
	fail := func(err error) (*libvirt.Connect, chan struct{}, error) {
		lv.UnregisterCloseCallback()
		lv.Close()
		return nil, nil, err
	}
	if err := lv.RegisterCloseCallback(func(*libvirt.Connect, libvirt.ConnectCloseReason) {
		once.Do(func() { close(lost) })
	}); err != nil {
		return fail(err)
	}
	// Keepalive notices a libvirtd that hangs or vanished without closing the socket (only remote
	// drivers support it).
	_ = lv.SetKeepAlive(5, 3)
	if _, err := lv.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
		if name, err := d.GetName(); err == nil {
			c.events.lifecycle(name, ev.Event, ev.Detail)
		}
	}); err != nil {
		return fail(err)
	}
	if _, err := lv.DomainEventRebootRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain) {
		if name, err := d.GetName(); err == nil {
			c.events.reboot(name)
		}
	}); err != nil {
		return fail(err)
	}
	if _, err := lv.DomainEventDeviceRemovedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventDeviceRemoved) {
		if name, err := d.GetName(); err == nil {
			c.events.deviceRemoved(name, ev.DevAlias)
		}
	}); err != nil {
		return fail(err)
	}
	return lv, lost, nil
}

// run keeps the connection open until ctx ends. ready is closed after the first successful
// connect.
func (c *conn) run(ctx context.Context, ready chan<- struct{}) {
	backoff := 200 * time.Millisecond
	readyOnce := sync.Once{}
	for ctx.Err() == nil {
		lv, lost, err := c.connectOnce()
		if err != nil {
			c.log.Error(err, "connecting to libvirt; retrying", "uri", c.uri, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		c.mu.Lock()
		c.c, c.lost = lv, lost
		c.mu.Unlock()
		if err := c.synced(lv); err != nil {
			c.log.Error(err, "syncing with libvirt; reconnecting", "uri", c.uri, "in", backoff)
			c.drop(lv)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		c.log.Info("connected to libvirt and synced", "uri", c.uri)
		readyOnce.Do(func() { close(ready) })

		select {
		case <-ctx.Done():
		case <-lost:
			c.log.Info("the connection to libvirt closed; reconnecting", "uri", c.uri)
		}
		c.drop(lv)
	}
}

// drop forgets a connection. It is closed only by close: a goroutine may still be using it (its
// calls fail), and closing it under that goroutine would free it.
func (c *conn) drop(lv *libvirt.Connect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == lv {
		c.c, c.lost = nil, nil
	}
	c.retired = append(c.retired, lv)
}

// close closes every connection; nothing may use them any more.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		c.retired = append(c.retired, c.c)
		c.c, c.lost = nil, nil
	}
	for _, lv := range c.retired {
		lv.UnregisterCloseCallback()
		lv.Close()
	}
	c.retired = nil
}

// markLost reports a call that failed because the connection is gone (a closed socket the close
// callback has not reported yet): the connection is dropped and reopened.
func (c *conn) markLost(lv *libvirt.Connect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == lv && c.lost != nil {
		select {
		case <-c.lost:
		default:
			close(c.lost)
		}
	}
}

// isConnectionError reports whether err means the connection to libvirtd is gone.
func isConnectionError(err error) bool {
	var lerr libvirt.Error
	if !errors.As(err, &lerr) {
		return false
	}
	switch lerr.Code {
	case libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN, libvirt.ERR_RPC:
		return true
	case libvirt.ERR_SYSTEM_ERROR, libvirt.ERR_INTERNAL_ERROR:
		return lerr.Domain == libvirt.FROM_RPC || lerr.Domain == libvirt.FROM_REMOTE
	}
	return false
}

// isNoDomain reports whether err says the domain does not exist.
func isNoDomain(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN
}

// isNoMetadata reports whether err says the domain has no such metadata element.
func isNoMetadata(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN_METADATA
}

// isOperationInvalid reports whether err says the domain is not in a state for the operation (for
// example destroying a domain that is not running).
func isOperationInvalid(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_OPERATION_INVALID
}

// grpcError turns a libvirt failure into the status a caller gets: UNAVAILABLE when the
// connection is gone (so the caller retries), INTERNAL otherwise, naming what failed.
func grpcError(what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if isConnectionError(err) {
		return status.Errorf(codes.Unavailable, "%s: libvirt connection lost: %v", what, err)
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}
