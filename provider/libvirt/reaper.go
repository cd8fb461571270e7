package libvirt

import (
	"os"
	"path/filepath"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// The reaper: at start and every ReapInterval it syncs with libvirt (resuming deletions and
// preparations, adopting domains it does not hold), removes domains whose Ferrite metadata does
// not decode (half-made), removes machine directories that no domain and no create in progress
// owns (a create that crashed before its define), removes libvirt secrets of machines without a
// domain, updates the console logs' dropped counts, and
// every ImageGCInterval removes cached images no machine uses. Domains without Ferrite metadata
// are never touched.

func (p *Provider) runReaper() {
	select {
	case <-p.ready:
	case <-p.ctx.Done():
		return
	}
	lastGC := time.Time{}
	for {
		p.reapOnce()
		if p.opts.ImageGCInterval > 0 && time.Since(lastGC) >= p.opts.ImageGCInterval {
			p.collectImages()
			lastGC = time.Now()
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(p.opts.ReapInterval):
		}
	}
}

// reapOnce runs one pass of the reaper.
func (p *Provider) reapOnce() {
	lv, err := p.conn.get()
	if err != nil {
		return
	}
	if err := p.sync(lv); err != nil {
		p.log.Error(err, "reaper: syncing with libvirt")
		if isConnectionError(err) {
			p.conn.markLost(lv)
		}
		return
	}
	if err := p.reapHalfMade(lv); err != nil {
		p.log.Error(err, "reaper: half-made domains")
		return
	}
	p.reapDirectories(lv)
	p.reapSecrets(lv)
}

// reapHalfMade removes domains named like the provider's whose Ferrite metadata does not decode.
func (p *Provider) reapHalfMade(lv *libvirt.Connect) error {
	doms, err := lv.ListAllDomains(0)
	if err != nil {
		return err
	}
	defer func() {
		for i := range doms {
			doms[i].Free()
		}
	}()
	for i := range doms {
		dom := &doms[i]
		name, err := dom.GetName()
		if err != nil || machineIDOf(name) == "" {
			continue
		}
		_, err = readRecord(dom)
		if err == nil || isConnectionError(err) {
			continue
		}
		if _, statErr := os.Stat(p.machineDir(machineIDOf(name))); statErr != nil {
			continue // no directory of this provider's: another instance's half-made domain
		}
		p.log.Info("reaper: removing a half-made domain", "domain", name, "reason", err.Error())
		if err := dom.Destroy(); err != nil && !isOperationInvalid(err) {
			p.log.Error(err, "reaper: destroying", "domain", name)
			continue
		}
		if err := dom.Undefine(); err != nil {
			p.log.Error(err, "reaper: undefining", "domain", name)
			continue
		}
		p.removeOrphanDir(lv, machineIDOf(name))
	}
	return nil
}

// reapDirectories removes machine directories with no machine and no domain.
func (p *Provider) reapDirectories(lv *libvirt.Connect) {
	entries, err := os.ReadDir(filepath.Join(p.opts.StateDir, "machines"))
	if err != nil {
		p.log.Error(err, "reaper: reading the machine directories")
		return
	}
	for _, e := range entries {
		id := e.Name()
		p.mu.Lock()
		m, held := p.machines[id]
		p.mu.Unlock()
		if held {
			if _, _, err := consoleAccount(p.consoleLogPath(id)); err != nil && !os.IsNotExist(err) {
				p.log.Error(err, "reaper: console log accounting", "machine", m.id)
			}
			continue
		}
		p.removeOrphanDir(lv, id)
	}
}

// removeOrphanDir removes the directory of machine id unless a machine or a domain has that ID.
func (p *Provider) removeOrphanDir(lv *libvirt.Connect, id string) {
	if validation.ID("id", id) != nil {
		return // not a machine directory; left alone
	}
	p.mu.Lock()
	_, held := p.machines[id]
	p.mu.Unlock()
	if held {
		return
	}
	dom, err := lv.LookupDomainByName(DomainName(id))
	if err == nil {
		dom.Free()
		return
	}
	if !isNoDomain(err) {
		return
	}
	p.log.Info("reaper: removing the files of a machine without a domain", "machine", id)
	if err := os.RemoveAll(p.machineDir(id)); err != nil {
		p.log.Error(err, "reaper: removing files", "machine", id)
	}
}

// collectImages removes cached images that no machine was made from.
func (p *Provider) collectImages() {
	if p.opts.Images == nil {
		return
	}
	p.mu.Lock()
	inUse := map[string]bool{}
	pulling := false
	for _, m := range p.machines {
		if m.rec.ImageDigest != "" {
			inUse[m.rec.ImageDigest] = true
		}
		if !m.rec.Prepared && m.spec.GetRootDisk() != nil {
			pulling = true
		}
	}
	p.mu.Unlock()
	if pulling {
		// A pull in progress holds an image no record names yet; the next pass collects.
		return
	}
	removed, err := p.opts.Images.GC(func(digest string) bool { return inUse[digest] }, p.opts.ImageGCMinAge)
	if err != nil {
		p.log.Error(err, "image GC")
	}
	for _, digest := range removed {
		p.log.Info("image GC: removed an image no machine uses", "digest", digest)
	}
}
