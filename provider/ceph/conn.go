package ceph

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// conn is the provider's connection to the cluster and its pool.
type conn struct {
	rados *rados.Conn
	ioctx *rados.IOContext
	pool  string
}

// connect opens the cluster of confPath as user and the pool.
func connect(confPath, user, pool string) (*conn, error) {
	c, err := rados.NewConnWithUser(user)
	if err != nil {
		return nil, fmt.Errorf("ceph: user %q: %w", user, err)
	}
	if err := c.ReadConfigFile(confPath); err != nil {
		return nil, fmt.Errorf("ceph: conf %s: %w", confPath, err)
	}
	// Volumes from images are clones; format 2 needs no protected snapshot and lets a parent
	// with clones be removed to the trash, format 1 would tie them more tightly.
	if err := c.SetConfigOption("rbd_default_clone_format", "2"); err != nil {
		return nil, fmt.Errorf("ceph: rbd_default_clone_format: %w", err)
	}
	if err := c.SetConfigOption("client_mount_timeout", "30"); err != nil {
		return nil, fmt.Errorf("ceph: client_mount_timeout: %w", err)
	}
	if err := c.Connect(); err != nil {
		return nil, fmt.Errorf("ceph: connecting with %s as %s: %w", confPath, user, err)
	}
	ioctx, err := c.OpenIOContext(pool)
	if err != nil {
		c.Shutdown()
		return nil, fmt.Errorf("ceph: pool %q: %w", pool, err)
	}
	return &conn{rados: c, ioctx: ioctx, pool: pool}, nil
}

func (c *conn) close() {
	c.ioctx.Destroy()
	c.rados.Shutdown()
}

// monCommand runs a mon command given as its JSON fields and returns its output; a failure
// carries the monitor's status text.
func (c *conn) monCommand(cmd map[string]any) ([]byte, error) {
	cmd["format"] = "json"
	raw, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	out, info, err := c.rados.MonCommand(raw)
	if err != nil {
		return nil, fmt.Errorf("mon command %s: %w (%s)", cmd["prefix"], err, strings.TrimSpace(info))
	}
	return out, nil
}

// monitors returns the v1 addresses (host:port) of the cluster's monitors, comma-separated, as
// libvirt's RBD disks want them.
func (c *conn) monitors() (string, error) {
	out, err := c.monCommand(map[string]any{"prefix": "mon dump"})
	if err != nil {
		return "", err
	}
	var dump struct {
		Mons []struct {
			PublicAddrs struct {
				Addrvec []struct {
					Type string `json:"type"`
					Addr string `json:"addr"`
				} `json:"addrvec"`
			} `json:"public_addrs"`
		} `json:"mons"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		return "", fmt.Errorf("mon dump: %w", err)
	}
	var addrs []string
	for _, m := range dump.Mons {
		for _, a := range m.PublicAddrs.Addrvec {
			if a.Type == "v1" {
				addrs = append(addrs, a.Addr)
			}
		}
	}
	if len(addrs) == 0 {
		return "", errors.New("mon dump: no monitor has a v1 address")
	}
	sort.Strings(addrs)
	return strings.Join(addrs, ","), nil
}

// errno returns the negative errno a go-ceph error carries, or 0.
func errno(err error) int {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	return 0
}

// isNotFound reports whether err is ENOENT from librbd or librados.
func isNotFound(err error) bool {
	return errors.Is(err, rbd.ErrNotFound) || errors.Is(err, rados.ErrNotFound) || errno(err) == -int(syscall.ENOENT)
}

// isBusy reports whether err is EBUSY (an image that has watchers, a snapshot that has clones).
func isBusy(err error) bool { return errno(err) == -int(syscall.EBUSY) }

// isExist reports whether err is EEXIST.
func isExist(err error) bool { return errno(err) == -int(syscall.EEXIST) }
