package libvirt

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// The hypervisor's user: under qemu:///system libvirt runs QEMU as the user and group of
// qemu.conf (Debian's default: libvirt-qemu). The files the provider writes for a guest are
// given to that user with mode 0600, so the guest's user data is readable by the hypervisor and
// root only, whether or not libvirt's dynamic_ownership relabels them.

// DefaultQEMUUser is the user QEMU runs as when qemu.conf names none (Debian's build default).
const DefaultQEMUUser = "libvirt-qemu"

// HypervisorOwnerFromConfig returns the owner QEMU runs as: name when not empty or "auto",
// otherwise the user and group of the qemu.conf at confPath (when it sets them), otherwise
// DefaultQEMUUser and its primary group. A user given as "+N" is taken as UID N.
func HypervisorOwnerFromConfig(name, confPath string) (*Owner, error) {
	userName, groupName := name, ""
	if userName == "" || userName == "auto" {
		userName, groupName = DefaultQEMUUser, ""
		if u, g, err := readQEMUConf(confPath); err == nil {
			if u != "" {
				userName = u
			}
			groupName = g
		} else if !os.IsNotExist(err) {
			return nil, err
		}
	}
	o := &Owner{}
	if uid, ok := strings.CutPrefix(userName, "+"); ok {
		n, err := strconv.Atoi(uid)
		if err != nil {
			return nil, fmt.Errorf("hypervisor user %q: %w", userName, err)
		}
		o.UID, o.GID = n, n
	} else {
		u, err := user.Lookup(userName)
		if err != nil {
			return nil, fmt.Errorf("hypervisor user %q: %w", userName, err)
		}
		o.UID, _ = strconv.Atoi(u.Uid)
		o.GID, _ = strconv.Atoi(u.Gid)
	}
	if gid, ok := strings.CutPrefix(groupName, "+"); ok {
		n, err := strconv.Atoi(gid)
		if err != nil {
			return nil, fmt.Errorf("hypervisor group %q: %w", groupName, err)
		}
		o.GID = n
	} else if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("hypervisor group %q: %w", groupName, err)
		}
		o.GID, _ = strconv.Atoi(g.Gid)
	}
	return o, nil
}

// readQEMUConf reads the user and group settings of a qemu.conf.
func readQEMUConf(path string) (userName, groupName string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), "=")
		if !ok || strings.HasPrefix(strings.TrimSpace(key), "#") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch strings.TrimSpace(key) {
		case "user":
			userName = value
		case "group":
			groupName = value
		}
	}
	return userName, groupName, scanner.Err()
}
