package libvirt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The console log: virtlogd writes a machine's serial console to console.log in its directory
// (the domain's <serial><log file=... append='on'/>), so it survives provider restarts. virtlogd
// also bounds it: past max_size (2 MiB by default, /etc/libvirt/virtlogd.conf) it renames
// console.log to console.log.0 (shifting older ones to .1, .2, ...) and keeps max_backups (3)
// such files. The provider reads the tail across those files and counts what virtlogd dropped,
// so offsets only grow: it remembers the backups it saw (by inode, which a rename keeps), and a
// backup that disappeared adds its size to the dropped count, stored in console.offset.

// consoleOffsetFile holds the dropped count and the backups last seen.
const consoleOffsetFile = "console.offset"

// logFile is one file of the console log.
type logFile struct {
	path  string
	inode uint64
	size  int64
}

// consoleFiles returns the files of a console log, oldest first: console.log.N ... .0, then
// console.log.
func consoleFiles(logPath string) ([]logFile, error) {
	matches, err := filepath.Glob(logPath + ".*")
	if err != nil {
		return nil, err
	}
	type backup struct {
		n    int
		path string
	}
	var backups []backup
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, logPath+".")); err == nil {
			backups = append(backups, backup{n, m})
		}
	}
	sort.Slice(backups, func(i, j int) bool { return backups[i].n > backups[j].n })
	var files []logFile
	add := func(path string) error {
		fi, err := os.Stat(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		f := logFile{path: path, size: fi.Size()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			f.inode = st.Ino
		}
		files = append(files, f)
		return nil
	}
	for _, b := range backups {
		if err := add(b.path); err != nil {
			return nil, err
		}
	}
	if err := add(logPath); err != nil {
		return nil, err
	}
	return files, nil
}

// consoleAccount updates the dropped count of a console log from the files present and returns
// it with the files.
func consoleAccount(logPath string) (dropped uint64, files []logFile, err error) {
	files, err = consoleFiles(logPath)
	if err != nil {
		return 0, nil, err
	}
	offsetPath := filepath.Join(filepath.Dir(logPath), consoleOffsetFile)
	known := map[uint64]int64{}
	if data, err := os.ReadFile(offsetPath); err == nil {
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		dropped, _ = strconv.ParseUint(lines[0], 10, 64)
		for _, line := range lines[1:] {
			var inode uint64
			var size int64
			if _, err := fmt.Sscanf(line, "%d %d", &inode, &size); err == nil {
				known[inode] = size
			}
		}
	}
	present := map[uint64]int64{}
	for _, f := range files {
		if f.path != logPath {
			present[f.inode] = f.size
		}
	}
	changed := len(present) != len(known)
	for inode, size := range known {
		if _, ok := present[inode]; !ok {
			dropped += uint64(size)
			changed = true
		}
	}
	if changed {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%d\n", dropped)
		for inode, size := range present {
			fmt.Fprintf(&b, "%d %d\n", inode, size)
		}
		if err := writeFileAtomic(offsetPath, b.Bytes(), 0o600); err != nil && !os.IsNotExist(err) {
			return 0, nil, err
		}
	}
	return dropped, files, nil
}

// readConsoleTail returns the last n bytes of a console log (n > 0), their offset in everything
// the console printed, and that total.
func readConsoleTail(logPath string, n uint64) (data []byte, offset, total uint64, err error) {
	dropped, files, err := consoleAccount(logPath)
	if err != nil {
		return nil, 0, 0, err
	}
	var retained uint64
	for _, f := range files {
		retained += uint64(f.size)
	}
	total = dropped + retained
	want := min(n, retained)
	// Read the last want bytes, newest file first, each file up to the size seen above (virtlogd
	// may be appending).
	out := make([]byte, want)
	end := want
	for i := len(files) - 1; i >= 0 && end > 0; i-- {
		f := files[i]
		take := min(uint64(f.size), end)
		if err := readAt(f.path, out[end-take:end], f.size-int64(take)); err != nil {
			return nil, 0, 0, err
		}
		end -= take
	}
	return out, total - want, total, nil
}

func readAt(path string, buf []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadAt(buf, off)
	if err == io.EOF {
		err = nil
	}
	return err
}
