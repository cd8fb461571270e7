package libvirt

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/provider/image"
)

func TestRestartKeepsMachinesAndRevisionGrows(t *testing.T) {
	env := startProvider(t, testURI, "", nil)
	const id = "restart-a"
	m := newMachine(id)
	m.Spec.UserData = &runtimev1alpha1.UserData{Data: []byte("#cloud-config\n"), Format: runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_CLOUD_INIT}
	env.create(m)
	before := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	if _, err := os.Stat(filepath.Join(env.provider.machineDir(id), cloudInitFile)); err != nil {
		t.Fatalf("NoCloud drive: %v", err)
	}
	list, err := env.client.ListMachines(ctxFor(t), &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	oldRevision := list.GetRevision()
	env.close()

	// A new provider on the same state: the machine is back, unchanged, at a higher revision.
	env = startProvider(t, testURI, env.dir, nil)
	after := env.get(id)
	if after == nil {
		t.Fatal("the machine is gone after a restart")
	}
	if after.GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING ||
		after.GetStatus().GetBootCount() != before.GetStatus().GetBootCount() ||
		string(after.GetSpec().GetUserData().GetData()) != "#cloud-config\n" ||
		!after.GetMetadata().GetCreateTime().AsTime().Equal(before.GetMetadata().GetCreateTime().AsTime()) {
		t.Fatalf("after restart %v\nbefore %v", after, before)
	}
	if after.GetMetadata().GetRevision() <= oldRevision {
		t.Fatalf("revision %d after restart, before %d", after.GetMetadata().GetRevision(), oldRevision)
	}
	// A watch from the old run's revision must resync.
	stream, err := env.client.Watch(ctxFor(t), &runtimev1alpha1.WatchRequest{FromRevision: oldRevision})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("a watch from the old run's revision did not fail")
	} else if _, ok := runtimev1alpha1.AsRevisionTooOld(err); !ok {
		t.Fatalf("watch from the old revision: %v, want RevisionTooOld", err)
	}
	env.delete(id)
}

func TestReaper(t *testing.T) {
	env := startProvider(t, testURI, "", nil)
	define := func(name, metadata string) {
		t.Helper()
		xml := `<domain type='test'><name>` + name + `</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>` + metadata +
			`<os><type arch='x86_64'>hvm</type></os></domain>`
		dom, err := pin.DomainDefineXML(xml)
		if err != nil {
			t.Fatal(err)
		}
		dom.Free()
	}
	exists := func(name string) bool {
		dom, err := pin.LookupDomainByName(name)
		if err != nil {
			return false
		}
		dom.Free()
		return true
	}
	// A domain named like the provider's without metadata, and an unrelated one: never touched.
	define("ferrite-untagged", "")
	define("someone-elses", `<metadata><x:y xmlns:x="https://example.com/x"/></metadata>`)
	// Half-made: Ferrite metadata that does not decode.
	// Half-made: Ferrite metadata that does not decode, with the machine directory its create
	// made; the same without a directory is another instance's and stays.
	define("ferrite-halfmade", `<metadata><machine xmlns="`+MetadataNamespace+`"><generation>x</generation></machine></metadata>`)
	if err := os.MkdirAll(env.provider.machineDir("halfmade"), 0o711); err != nil {
		t.Fatal(err)
	}
	define("ferrite-otherhalf", `<metadata><machine xmlns="`+MetadataNamespace+`"><generation>x</generation></machine></metadata>`)
	// Another instance's machine on the same daemon: never adopted, never reaped.
	other, err := newRecord("other", nil, newMachine("other").GetSpec(), env.provider.opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	other.Instance = "another-pool"
	otherData, _ := other.marshal()
	define("ferrite-other", "<metadata>"+namespaced(otherData)+"</metadata>")
	// A machine marked for deletion that no provider finished deleting.
	rec, err := newRecord("orphan", nil, newMachine("orphan").GetSpec(), env.provider.opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec.DeleteTime = formatTime(env.provider.opts.Now())
	data, _ := rec.marshal()
	define("ferrite-orphan", "<metadata>"+namespaced(data)+"</metadata>")
	// Files of a machine without a domain (a create that crashed before defining).
	stray := env.provider.machineDir("stray")
	if err := os.MkdirAll(stray, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stray, userDataFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ferrite-untagged", "someone-elses", "ferrite-otherhalf", "ferrite-other"} {
		t.Cleanup(func() {
			if dom, err := pin.LookupDomainByName(name); err == nil {
				dom.Undefine()
				dom.Free()
			}
		})
	}

	env.provider.reapOnce()
	env.waitFor("orphan", "the orphan's deletion", func(m *runtimev1alpha1.Machine) bool { return m == nil })
	for name, want := range map[string]bool{"ferrite-untagged": true, "someone-elses": true, "ferrite-otherhalf": true, "ferrite-other": true, "ferrite-halfmade": false, "ferrite-orphan": false} {
		if exists(name) != want {
			t.Errorf("domain %s exists: %v, want %v", name, !want, want)
		}
	}
	list, err := env.provider.ListMachines(context.Background(), &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.GetMachines() {
		if m.GetMetadata().GetId() == "other" {
			t.Error("the provider adopted another instance's machine")
		}
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("files of a machine without a domain: %v", err)
	}
	if hasEvent(env.events("orphan"), "Deleting") {
		t.Error("the reaper's deletion recorded a Deleting event; it was requested before")
	}
}

func TestImagePullFailure(t *testing.T) {
	server := httptest.NewServer(registry.New())
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	dir := t.TempDir()
	store, err := image.NewStore(image.StoreOptions{Dir: filepath.Join(dir, "images"), PlainHTTPRegistries: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	env := startProvider(t, testURI, "", func(o *Options) { o.Images = store })
	const id = "missing-image"
	m := newMachine(id)
	m.Spec.RootDisk = &runtimev1alpha1.RootDisk{Image: host + "/ferrite/missing:1"}
	env.create(m)
	failed := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_ERROR)
	if failed.GetStatus().GetReason() != "ImagePullFailed" || !strings.Contains(failed.GetStatus().GetMessage(), "missing") {
		t.Fatalf("status %v", failed.GetStatus())
	}
	events := env.events(id)
	if !hasEvent(events, "ImagePullFailed") {
		t.Fatalf("events %v", events)
	}
	for _, ev := range events {
		if ev.GetReason() == "ImagePullFailed" && ev.GetType() != runtimev1alpha1.EventType_EVENT_TYPE_WARNING {
			t.Fatalf("ImagePullFailed is not a warning: %v", ev)
		}
	}
	// The machine still answers; its domain is the placeholder.
	if _, err := env.client.RebootMachine(ctxFor(t), &runtimev1alpha1.RebootMachineRequest{MachineId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("reboot of a machine without its image: %v", err)
	}
	if state, ok := domainState(t, pin, id); !ok || state != libvirt.DOMAIN_SHUTOFF {
		t.Fatalf("placeholder domain: %v %v", state, ok)
	}
	env.delete(id)
}
