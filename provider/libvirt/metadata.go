package libvirt

import (
	"encoding/xml"
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// The Ferrite metadata of a domain: everything the provider knows about a machine beyond what
// libvirt shows, kept in the domain's <metadata> under the provider's own XML namespace. It and
// the machine's directory are the provider's whole state: after a restart the provider rebuilds
// its machines from the domains that carry it. A domain without it is never the provider's.

// MetadataNamespace is the XML namespace of the provider's element in a domain's <metadata>.
const MetadataNamespace = "https://ferrite.dev/xmlns/libvirt-provider/v1alpha1"

// metadataPrefix is the namespace prefix libvirt writes for it.
const metadataPrefix = "ferrite"

// record is the provider's element in a domain's metadata.
type record struct {
	XMLName xml.Name `xml:"machine"`
	// ID is the machine's ID.
	ID string `xml:"id"`
	// Instance is Options.Instance of the provider that made the domain.
	Instance string `xml:"instance,omitempty"`
	// Labels are the machine's labels, sorted by key.
	Labels []label `xml:"labels>label"`
	// Generation counts spec changes.
	Generation int64 `xml:"generation"`
	// CreateTime and DeleteTime are RFC 3339 times; DeleteTime is empty until deletion is
	// requested, and a domain with one is removed (by the deletion, or the reaper after a crash).
	CreateTime string `xml:"createTime"`
	DeleteTime string `xml:"deleteTime,omitempty"`
	// Spec is the machine's spec as protobuf JSON, without secrets and without the user data's
	// bytes (those stay in the machine's directory, readable by root only).
	Spec string `xml:"spec"`
	// Prepared says the image was pulled, the disks and user data written and the full domain
	// defined. Until then the domain is a placeholder that holds the machine's identity.
	Prepared bool `xml:"prepared"`
	// ImageDigest is the digest of the image the root disk was made from (for image GC), and
	// RootDiskSize the root disk's size.
	ImageDigest  string `xml:"imageDigest,omitempty"`
	RootDiskSize uint64 `xml:"rootDiskSize,omitempty"`
	// Devices are the guest devices chosen for volumes whose spec left the device empty.
	Devices []device `xml:"devices>volume"`
	// BootCount, BootTime and LastRebootID are status fields the domain cannot tell.
	BootCount    uint32 `xml:"bootCount"`
	BootTime     string `xml:"bootTime,omitempty"`
	LastRebootID string `xml:"lastRebootID,omitempty"`
	// Running says the provider last saw the guest running. A domain found shut off with it set
	// stopped without anyone noticing (the host went down), so the provider starts it again
	// when its spec says POWER_ON.
	Running bool `xml:"running"`
	// StopReason and StopMessage say why the machine last stopped (PoweredOff, ForcedOff,
	// GuestShutdown), which libvirt forgets across its own restarts.
	StopReason  string `xml:"stopReason,omitempty"`
	StopMessage string `xml:"stopMessage,omitempty"`
}

type label struct {
	Key   string `xml:"key,attr"`
	Value string `xml:"value,attr"`
}

type device struct {
	Name   string `xml:"name,attr"`
	Device string `xml:"device,attr"`
}

// newRecord is the record of a machine about to be created.
func newRecord(id string, labels map[string]string, spec *runtimev1alpha1.MachineSpec, now time.Time) (*record, error) {
	r := &record{ID: id, Generation: 1, CreateTime: formatTime(now)}
	r.setLabels(labels)
	if err := r.setSpec(spec); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *record) setLabels(labels map[string]string) {
	r.Labels = nil
	for k, v := range labels {
		r.Labels = append(r.Labels, label{Key: k, Value: v})
	}
	sort.Slice(r.Labels, func(i, j int) bool { return r.Labels[i].Key < r.Labels[j].Key })
}

func (r *record) labels() map[string]string {
	if len(r.Labels) == 0 {
		return nil
	}
	out := make(map[string]string, len(r.Labels))
	for _, l := range r.Labels {
		out[l.Key] = l.Value
	}
	return out
}

// storedSpec is a copy of spec as the record keeps it: secrets and user data bytes left out.
func storedSpec(spec *runtimev1alpha1.MachineSpec) *runtimev1alpha1.MachineSpec {
	s := proto.Clone(spec).(*runtimev1alpha1.MachineSpec)
	if s.UserData != nil {
		s.UserData.Data = nil
	}
	for _, v := range s.Volumes {
		withoutSecrets(v)
	}
	return s
}

func (r *record) setSpec(spec *runtimev1alpha1.MachineSpec) error {
	data, err := protojson.Marshal(storedSpec(spec))
	if err != nil {
		return fmt.Errorf("encoding the spec of machine %s: %w", r.ID, err)
	}
	r.Spec = string(data)
	return nil
}

// spec decodes the stored spec (without the user data's bytes).
func (r *record) spec() (*runtimev1alpha1.MachineSpec, error) {
	spec := &runtimev1alpha1.MachineSpec{}
	if err := protojson.Unmarshal([]byte(r.Spec), spec); err != nil {
		return nil, fmt.Errorf("decoding the spec of machine %s: %w", r.ID, err)
	}
	return spec, nil
}

func (r *record) device(volume string) string {
	for _, d := range r.Devices {
		if d.Name == volume {
			return d.Device
		}
	}
	return ""
}

func (r *record) setDevice(volume, dev string) {
	r.removeDevice(volume)
	r.Devices = append(r.Devices, device{Name: volume, Device: dev})
}

func (r *record) removeDevice(volume string) {
	for i, d := range r.Devices {
		if d.Name == volume {
			r.Devices = append(r.Devices[:i:i], r.Devices[i+1:]...)
			return
		}
	}
}

// clone returns a deep copy of r.
func (r *record) clone() *record {
	c := *r
	c.Labels = append([]label(nil), r.Labels...)
	c.Devices = append([]device(nil), r.Devices...)
	return &c
}

// marshal encodes r as the element stored in the domain's metadata (libvirt adds the namespace).
func (r *record) marshal() (string, error) {
	data, err := xml.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encoding the metadata of machine %s: %w", r.ID, err)
	}
	return string(data), nil
}

// parseRecord decodes the provider's metadata element as libvirt returns it. A record without an
// ID or with a spec that does not decode is an error: the domain is half-made.
func parseRecord(data string) (*record, error) {
	r := &record{}
	if err := xml.Unmarshal([]byte(data), r); err != nil {
		return nil, fmt.Errorf("decoding Ferrite metadata: %w", err)
	}
	if r.ID == "" {
		return nil, fmt.Errorf("the Ferrite metadata has no machine ID")
	}
	if _, err := r.spec(); err != nil {
		return nil, err
	}
	return r, nil
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
