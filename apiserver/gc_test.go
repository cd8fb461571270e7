package apiserver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// TestGCSettingsPrecedence checks who decides each setting: the environment, then the flags,
// then Ferrite's defaults (a fraction of the memory the process may use).
func TestGCSettingsPrecedence(t *testing.T) {
	const gib = int64(1) << 30
	for _, tc := range []struct {
		name        string
		env         map[string]string
		percent     int
		memoryLimit string
		available   int64
		wantPercent *int
		wantLimit   *int64
	}{
		{name: "defaults", percent: DefaultGCPercent, available: 10 * gib,
			wantPercent: ptr(DefaultGCPercent), wantLimit: ptr(9 * gib)},
		{name: "defaults, memory unknown", percent: DefaultGCPercent,
			wantPercent: ptr(DefaultGCPercent)},
		{name: "flags", percent: 400, memoryLimit: "2Gi", available: 10 * gib,
			wantPercent: ptr(400), wantLimit: ptr(2 * gib)},
		{name: "collector off, limit only", percent: -1, memoryLimit: "512Mi",
			wantPercent: ptr(-1), wantLimit: ptr(int64(512) << 20)},
		{name: "no limit", percent: 100, memoryLimit: "none", available: 10 * gib,
			wantPercent: ptr(100)},
		{name: "environment wins over the defaults", env: map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"},
			percent: DefaultGCPercent, available: 10 * gib},
		{name: "environment wins over the flags", env: map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"},
			percent: 400, memoryLimit: "2Gi", available: 10 * gib},
		{name: "GOGC only: the limit is still ours", env: map[string]string{"GOGC": "50"},
			percent: 400, available: 10 * gib, wantLimit: ptr(9 * gib)},
		{name: "GOMEMLIMIT only: the percentage is still ours", env: map[string]string{"GOMEMLIMIT": "1GiB"},
			percent: 400, memoryLimit: "2Gi", wantPercent: ptr(400)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := GCOptions{Percent: tc.percent, MemoryLimit: tc.memoryLimit}
			got, err := o.Settings(func(name string) string { return tc.env[name] }, func() int64 { return tc.available })
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got.Percent, tc.wantPercent) {
				t.Errorf("percent: got %v, want %v", show(got.Percent), show(tc.wantPercent))
			}
			if !equal(got.MemoryLimit, tc.wantLimit) {
				t.Errorf("memory limit: got %v, want %v", show(got.MemoryLimit), show(tc.wantLimit))
			}
		})
	}
}

// TestGCMemoryLimitFlag checks that a bad --memory-limit is refused, naming the flag.
func TestGCMemoryLimitFlag(t *testing.T) {
	for _, bad := range []string{"lots", "-1Gi", "0"} {
		o := GCOptions{MemoryLimit: bad}
		if errs := o.Validate(); len(errs) == 0 {
			t.Errorf("--memory-limit %q accepted", bad)
		}
	}
	for _, good := range []string{"", "none", "4Gi", "1500M"} {
		o := GCOptions{MemoryLimit: good}
		if errs := o.Validate(); len(errs) != 0 {
			t.Errorf("--memory-limit %q refused: %v", good, errs)
		}
	}
}

// TestAvailableMemory reads the memory limit from cgroup v2 and v1 layouts and the host's
// memory, as files below a fake root.
func TestAvailableMemory(t *testing.T) {
	const meminfo = "MemTotal:       24684544 kB\nMemFree:        16887060 kB\n"
	const host = int64(24684544) << 10
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{name: "cgroup v2 limit", want: 2 << 30, files: map[string]string{
			"proc/self/cgroup": "0::/kubepods/pod1/c1\n", "sys/fs/cgroup/kubepods/pod1/c1/memory.max": "2147483648\n"}},
		{name: "cgroup v2 in a namespace", want: 1 << 30, files: map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "1073741824\n"}},
		{name: "cgroup v2 without a limit", want: host, files: map[string]string{
			"proc/self/cgroup": "0::/user.slice\n", "sys/fs/cgroup/user.slice/memory.max": "max\n"}},
		{name: "cgroup v1 limit (hybrid)", want: 3 << 30, files: map[string]string{
			"proc/self/cgroup": "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n", "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "3221225472\n"}},
		{name: "cgroup v1 without a limit", want: host, files: map[string]string{
			"proc/self/cgroup": "4:cpuacct,memory:/x\n", "sys/fs/cgroup/memory/x/memory.limit_in_bytes": "9223372036854771712\n"}},
		{name: "limit above the host's memory", want: host, files: map[string]string{
			"proc/self/cgroup": "0::/big\n", "sys/fs/cgroup/big/memory.max": "107374182400\n"}},
		{name: "no cgroup file", want: host, files: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.files["proc/meminfo"] = meminfo
			for name, content := range tc.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := AvailableMemory(root); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	if got := AvailableMemory(t.TempDir()); got != 0 {
		t.Fatalf("nothing readable: got %d, want 0", got)
	}
	if got := AvailableMemory("/"); got <= 0 {
		t.Fatalf("this machine: got %d, want its memory", got)
	}
}

func ptr[T any](v T) *T { return &v }

func equal[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func show[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// TestGCFlags checks that the flags reach the options and that the defaults are Ferrite's.
func TestGCFlags(t *testing.T) {
	o := NewGCOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if o.Percent != DefaultGCPercent || o.MemoryLimit != "" {
		t.Fatalf("defaults: %+v", o)
	}
	if err := fs.Parse([]string{"--gc-percent=400", "--memory-limit=2Gi"}); err != nil {
		t.Fatal(err)
	}
	s, err := o.Settings(func(string) string { return "" }, func() int64 { return 0 })
	if err != nil || *s.Percent != 400 || *s.MemoryLimit != 2<<30 {
		t.Fatalf("after the flags: %+v, %v", o, err)
	}
}
