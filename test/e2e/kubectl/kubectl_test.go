//go:build e2e

package kubectl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sample is one object of config/samples/.
type sample struct {
	kind     string // lower-case kind, as kubectl prints it ("machine")
	resource string // plural resource ("machines")
	group    string
	name     string
}

// e2eNamespace holds the objects the tests make beside the samples.
const e2eNamespace = "ferrite-e2e"

// ensureNamespace creates a namespace where namespaces are objects (behind kube-apiserver);
// the standalone ferrite-apiserver has none and takes any namespace name.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	if _, _, err := kubectlResult(t, "", "get", "--raw", "/api/v1"); err != nil {
		return
	}
	kubectlIn(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n", "apply", "-f", "-")
}

func (s sample) ref() string      { return s.kind + "." + s.group + "/" + s.name }
func (s sample) category() string { return strings.TrimSuffix(s.group, ".ferrite.dev") }

// samples is everything config/samples/ holds; TestKubectl checks that it covers every kind
// the server serves.
var samples = []sample{
	{"machineclass", "machineclasses", "compute.ferrite.dev", "x3-small"},
	{"machinepool", "machinepools", "compute.ferrite.dev", "host-a"},
	{"machine", "machines", "compute.ferrite.dev", "web-0"},
	{"machine", "machines", "compute.ferrite.dev", "db-0"},
	{"volumeclass", "volumeclasses", "storage.ferrite.dev", "fast"},
	{"volumeclass", "volumeclasses", "storage.ferrite.dev", "encrypted"},
	{"volumepool", "volumepools", "storage.ferrite.dev", "ceph-a"},
	{"volume", "volumes", "storage.ferrite.dev", "data-0"},
	{"volume", "volumes", "storage.ferrite.dev", "vault-0"},
	{"volumesnapshot", "volumesnapshots", "storage.ferrite.dev", "data-0-snap"},
	{"network", "networks", "networking.ferrite.dev", "frontend"},
	{"network", "networks", "networking.ferrite.dev", "backend"},
	{"networkinterface", "networkinterfaces", "networking.ferrite.dev", "db-0"},
	{"virtualip", "virtualips", "networking.ferrite.dev", "web-public"},
	{"natgateway", "natgateways", "networking.ferrite.dev", "backend-nat"},
	{"loadbalancer", "loadbalancers", "networking.ferrite.dev", "web"},
	{"networkpolicy", "networkpolicies", "networking.ferrite.dev", "backend-db"},
	{"prefix", "prefixes", "ipam.ferrite.dev", "backend-root"},
	{"prefix", "prefixes", "ipam.ferrite.dev", "backend-v4"},
	{"prefix", "prefixes", "ipam.ferrite.dev", "frontend-v4"},
	{"prefix", "prefixes", "ipam.ferrite.dev", "public-v4"},
	{"resourcequota", "resourcequotas", "core.ferrite.dev", "default-quota"},
}

// refs returns the sample references that keep says yes to, sorted.
func refs(keep func(sample) bool) []string {
	var out []string
	for _, s := range samples {
		if keep(s) {
			out = append(out, s.ref())
		}
	}
	slices.Sort(out)
	return out
}

// statusLines maps "<kind>.<group>/<name>" to the verb kubectl apply printed for it.
var applyLine = regexp.MustCompile(`^(\S+/\S+) (created|configured|unchanged|serverside-applied)$`)

func applyResults(t *testing.T, out string) map[string]string {
	t.Helper()
	results := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := applyLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("unexpected apply output line %q", line)
			continue
		}
		results[m[1]] = m[2]
	}
	return results
}

func sortedLines(out string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	slices.Sort(lines)
	return lines
}

// samplesDir is a copy of config/samples/ without its core/v1 documents (the machine's user-data
// Secret): the standalone ferrite-apiserver does not serve them (kubectl fails on a kind it
// cannot map even when a selector would leave it out), and the suite checks Ferrite's kinds only.
func samplesDir() string {
	samplesOnce.Do(func() {
		dir := filepath.Join(suite.tmp, "samples")
		files, err := filepath.Glob(filepath.Join(suite.root, "config", "samples", "*.yaml"))
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		for _, file := range files {
			if err != nil {
				break
			}
			var data []byte
			if data, err = os.ReadFile(file); err != nil {
				break
			}
			var kept []string
			for _, doc := range strings.Split(string(data), "\n---\n") {
				if !strings.Contains(doc, "\napiVersion: v1\n") && !strings.HasPrefix(doc, "apiVersion: v1\n") {
					kept = append(kept, doc)
				}
			}
			err = os.WriteFile(filepath.Join(dir, filepath.Base(file)), []byte(strings.Join(kept, "\n---\n")), 0o644)
		}
		if err != nil {
			panic(fmt.Sprintf("copying the samples: %v", err))
		}
		samplesPath = dir + "/"
	})
	return samplesPath
}

var (
	samplesOnce sync.Once
	samplesPath string
)

// machineSample returns the Machine document of config/samples/4-compute.yaml.
func machineSample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suite.root, "config", "samples", "4-compute.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if strings.Contains(doc, "\nkind: Machine\n") {
			return doc
		}
	}
	t.Fatal("no Machine in config/samples/4-compute.yaml")
	return ""
}

func mustReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found in\n%s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

func TestKubectlVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(suite.root, "hack", "tools", "kubectl", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubectl v0\.(\d+\.\d+)\s*$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("no k8s.io/kubectl requirement in hack/tools/kubectl/go.mod")
	}
	wantClient := "v1." + string(m[1])

	// kubectl prints the JSON and then fails when it cannot parse the server's version.
	out, stderr, err := kubectlResult(t, "", "version", "-o", "json")
	var version struct {
		ClientVersion struct{ GitVersion string }  `json:"clientVersion"`
		ServerVersion *struct{ GitVersion string } `json:"serverVersion"`
	}
	if jsonErr := json.Unmarshal([]byte(out), &version); jsonErr != nil {
		t.Fatalf("kubectl version -o json: %v (%v)\n%s", jsonErr, err, stderr)
	}
	if version.ClientVersion.GitVersion != wantClient {
		t.Errorf("client version %q, want %q (hack/build-kubectl.sh stamps it)", version.ClientVersion.GitVersion, wantClient)
	}
	if version.ServerVersion == nil {
		t.Fatalf("no server version: %v\n%s", err, stderr)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`).MatchString(version.ServerVersion.GitVersion) {
		t.Errorf("server version %q is not a semantic version (ferrite-apiserver is built without version stamps)", version.ServerVersion.GitVersion)
	}
	if err != nil {
		t.Errorf("kubectl version: %v\n%s", err, stderr)
	}
}

// TestKubectl walks the life of the samples, step by step on the same objects. Nothing runs
// after a failed create, since every later step reads the samples.
func TestKubectl(t *testing.T) {
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"apply creates every sample", testApply},
		{"every served kind has a sample", testEveryKindHasASample},
		{"apply again changes nothing", testApplyAgain},
		{"diff through server-side dry run", testDiff},
		{"get shows table columns", testTableColumns},
		{"get by category", testCategories},
		{"networks get distinct VNIs", testVNIs},
		{"describe", testDescribe},
		{"explain", testExplain},
		{"server-side apply", testServerSideApply},
		{"server-side apply creates a network with a VNI", testServerSideApplyCreate},
		{"invalid input is rejected with the field named", testInvalid},
		{"binding, claims, resize and class deletion are guarded", testSafetyRefusals},
		{"delete removes every sample", testDelete},
	}
	for i, step := range steps {
		if !t.Run(step.name, step.run) && i == 0 {
			t.Fatalf("step %q failed; skipping the rest", step.name)
		}
	}
}

func testApply(t *testing.T) {
	results := applyResults(t, kubectl(t, "apply", "-f", samplesDir()))
	for _, ref := range refs(func(sample) bool { return true }) {
		if results[ref] != "created" {
			t.Errorf("%s: %q, want created", ref, results[ref])
		}
	}
	if len(results) != len(samples) {
		t.Errorf("apply printed %d objects, want %d: %v", len(results), len(samples), results)
	}
}

func testEveryKindHasASample(t *testing.T) {
	var served []string
	for _, line := range sortedLines(kubectl(t, "api-resources", "-o", "name")) {
		if strings.HasSuffix(line, ".ferrite.dev") {
			served = append(served, line)
		}
	}
	var sampled []string
	for _, s := range samples {
		sampled = append(sampled, s.resource+"."+s.group)
	}
	slices.Sort(sampled)
	sampled = slices.Compact(sampled)
	if !slices.Equal(served, sampled) {
		t.Errorf("served kinds and samples differ\nserved:  %v\nsamples: %v", served, sampled)
	}
}

func testApplyAgain(t *testing.T) {
	for ref, result := range applyResults(t, kubectl(t, "apply", "-f", samplesDir())) {
		if result != "unchanged" {
			t.Errorf("%s: %s, want unchanged (the samples are written as the server stores them)", ref, result)
		}
	}
}

func testDiff(t *testing.T) {
	kubectl(t, "diff", "-f", samplesDir())
	off := mustReplace(t, machineSample(t), `power: "On"`, `power: "Off"`)
	out := kubectlFails(t, off, "diff", "-f", "-")
	for _, want := range []string{`-  power: "On"`, `+  power: "Off"`} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl diff lacks %q", want)
		}
	}
	if got := kubectl(t, "get", "machine", "web-0", "-o", "jsonpath={.spec.power}"); got != "On" {
		t.Errorf("kubectl diff (a dry run) changed power to %q", got)
	}
}

func testTableColumns(t *testing.T) {
	tests := []struct {
		args    []string
		headers []string
		rows    map[string]map[string]string // NAME -> column -> value
	}{
		{[]string{"machines", "-o", "wide"}, []string{"NAME", "CLASS", "POOL", "STATE", "POWER", "IMAGE", "IPS", "AGE"},
			map[string]map[string]string{"web-0": {"CLASS": "x3-small", "POOL": "<none>", "POWER": "On", "IMAGE": "127.0.0.1:5050/ferrite/guest:latest"}}},
		{[]string{"mach"}, []string{"NAME", "CLASS", "POOL", "STATE", "AGE"},
			map[string]map[string]string{"web-0": {"CLASS": "x3-small"}}},
		{[]string{"machineclasses"}, []string{"NAME", "CPU", "MEMORY", "AGE"},
			map[string]map[string]string{"x3-small": {"CPU": "2", "MEMORY": "4Gi"}}},
		{[]string{"machinepools", "-o", "wide"}, []string{"NAME", "READY", "CLASSES", "PROVIDERID", "TAINTS", "AGE"},
			map[string]map[string]string{"host-a": {"PROVIDERID": "libvirt://host-a"}}},
		{[]string{"volumeclasses"}, []string{"NAME", "IOPS", "TPS", "RESIZEPOLICY", "AGE"},
			map[string]map[string]string{"fast": {"IOPS": "2500", "TPS": "150Mi", "RESIZEPOLICY": "ExpandOnly"}}},
		{[]string{"volumepools", "-o", "wide"}, []string{"NAME", "READY", "CLASSES", "PROVIDERID", "AGE"},
			map[string]map[string]string{"ceph-a": {"PROVIDERID": "ceph://cluster-a/rbd"}}},
		{[]string{"vol", "-o", "wide"}, []string{"NAME", "CLASS", "POOL", "SIZE", "STATE", "CLAIM", "IMAGE", "AGE"},
			map[string]map[string]string{"data-0": {"CLASS": "fast", "SIZE": "20Gi"}}},
		{[]string{"volumesnapshots"}, []string{"NAME", "VOLUME", "STATE", "RESTORESIZE", "AGE"},
			map[string]map[string]string{"data-0-snap": {"VOLUME": "data-0"}}},
		{[]string{"networks", "-o", "wide"}, []string{"NAME", "VNI", "STATE", "PEERINGS", "AGE"}, nil},
		{[]string{"nic", "-o", "wide"}, []string{"NAME", "NETWORK", "MACHINE", "IPS", "STATE", "VIRTUALIP", "PREFIXES", "AGE"},
			map[string]map[string]string{"db-0": {"NETWORK": "backend", "MACHINE": "<none>"}}},
		{[]string{"virtualips"}, []string{"NAME", "TYPE", "IP", "TARGET", "AGE"},
			map[string]map[string]string{"web-public": {"TYPE": "Public"}}},
		{[]string{"natgateways", "-o", "wide"}, []string{"NAME", "NETWORK", "IPS", "PORTSPERNIC", "AGE"},
			map[string]map[string]string{"backend-nat": {"NETWORK": "backend", "PORTSPERNIC": "1024"}}},
		{[]string{"loadbalancers", "-o", "wide"}, []string{"NAME", "TYPE", "NETWORK", "IPS", "PORTS", "AGE"},
			map[string]map[string]string{"web": {"TYPE": "Public", "NETWORK": "frontend"}}},
		// Qualified: behind kube-apiserver, plain "networkpolicies" is Kubernetes' own kind.
		{[]string{"networkpolicies.networking.ferrite.dev"}, []string{"NAME", "NETWORK", "POLICYTYPES", "AGE"},
			map[string]map[string]string{"backend-db": {"NETWORK": "backend", "POLICYTYPES": "Ingress,Egress"}}},
		{[]string{"prefixes", "-o", "wide"}, []string{"NAME", "PREFIX", "PARENT", "PHASE", "FAMILY", "AGE"},
			map[string]map[string]string{
				"backend-root": {"PREFIX": "10.20.0.0/16", "PARENT": "<none>", "FAMILY": "IPv4"},
				"backend-v4":   {"PARENT": "backend-root"},
			}},
		{[]string{"fquota"}, []string{"NAME", "USED/HARD", "AGE"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			tab := parseTable(t, kubectl(t, append([]string{"get"}, tt.args...)...))
			if !slices.Equal(tab.headers, tt.headers) {
				t.Errorf("headers %v, want %v", tab.headers, tt.headers)
			}
			for name, want := range tt.rows {
				row := tab.row(t, name)
				for column, value := range want {
					if row[column] != value {
						t.Errorf("%s: %s = %q, want %q", name, column, row[column], value)
					}
				}
			}
		})
	}

	// The quota's cell holds spaces: every limit of the sample with its use (which depends on
	// whether the quota saw the machines, applied before it).
	row := parseTable(t, kubectl(t, "get", "resourcequotas.core.ferrite.dev", "default-quota")).row(t, "default-quota")
	for _, want := range []string{`requests\.cpu: \d+/64\b`, `requests\.memory: \w+/256Gi\b`, `count/machines\.compute\.ferrite\.dev: [0-2]/50\b`} {
		if !regexp.MustCompile(want).MatchString(row["USED/HARD"]) {
			t.Errorf("USED/HARD %q does not match %s", row["USED/HARD"], want)
		}
	}
}

// withoutEphemeral drops the volumes and network interfaces that the controller manager (which
// `make run` starts) creates for the sample machine's inline entries: they are named
// "<machine>-<entry>", and the categories list them besides the samples.
func withoutEphemeral(refs []string) []string {
	var kept []string
	for _, ref := range refs {
		kind, name, _ := strings.Cut(ref, "/")
		ephemeralKind := kind == "volume.storage.ferrite.dev" || kind == "networkinterface.networking.ferrite.dev"
		if ephemeralKind && slices.ContainsFunc(sampleMachines, func(m string) bool { return strings.HasPrefix(name, m+"-") }) {
			continue
		}
		if kind == "virtualip.networking.ferrite.dev" && slices.Contains(ownedVirtualIPs, name) {
			continue
		}
		kept = append(kept, ref)
	}
	return kept
}

// ownedVirtualIPs are the VirtualIPs the controller manager makes for the samples' NAT gateway
// and load balancer (their public addresses).
var ownedVirtualIPs = []string{"backend-nat-nat", "web-lb-ipv4"}

// publicPool is the sample in the operator's namespace (ferrite-system) rather than default.
const publicPool = "public-v4"

// inDefault reports whether a sample lives in the namespace default.
func inDefault(s sample) bool { return s.name != publicPool }

// sampleMachine is the machine of config/samples whose inline volumes and NICs are ephemeral.
const sampleMachine = "web-0"

// sampleMachines are all the machines of config/samples; each may make ephemeral volumes and
// NICs named after it.
var sampleMachines = []string{sampleMachine, "db-0"}

func testCategories(t *testing.T) {
	tests := []struct {
		category string
		want     []string
	}{
		{"ferrite", refs(inDefault)},
		{"compute", refs(func(s sample) bool { return s.category() == "compute" })},
		{"storage", refs(func(s sample) bool { return s.category() == "storage" })},
		// Prefixes are in the networking category as well as in ipam.
		{"networking", refs(func(s sample) bool { return inDefault(s) && (s.category() == "networking" || s.category() == "ipam") })},
		{"ipam", refs(func(s sample) bool { return inDefault(s) && s.category() == "ipam" })},
	}
	for _, tt := range tests {
		t.Run(tt.category, func(t *testing.T) {
			got := withoutEphemeral(sortedLines(kubectl(t, "get", tt.category, "-o", "name")))
			if !slices.Equal(got, tt.want) {
				t.Errorf("kubectl get %s -o name\n got: %v\nwant: %v", tt.category, got, tt.want)
			}
		})
	}
	// The table form: one section per kind, each object under its kind-qualified name.
	out := kubectl(t, "get", "ferrite")
	for _, ref := range refs(inDefault) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ref) + `\s`).MatchString(out) {
			t.Errorf("kubectl get ferrite lacks a row for %s", ref)
		}
	}
}

func testVNIs(t *testing.T) {
	tab := parseTable(t, kubectl(t, "get", "networks"))
	seen := map[string]string{}
	for _, name := range []string{"frontend", "backend"} {
		vni := tab.row(t, name)["VNI"]
		if n, err := strconv.Atoi(vni); err != nil || n <= 0 || n > 1<<24-1 {
			t.Errorf("network %s: VNI %q, want 1 to 16777215", name, vni)
		}
		if other, dup := seen[vni]; dup {
			t.Errorf("networks %s and %s share VNI %s", other, name, vni)
		}
		seen[vni] = name
	}
	if got := kubectl(t, "get", "network", "frontend", "-o", "jsonpath={.status.vni}"); got != tab.row(t, "frontend")["VNI"] {
		t.Errorf("status.vni %q differs from the VNI column %q", got, tab.row(t, "frontend")["VNI"])
	}
}

func testDescribe(t *testing.T) {
	out := kubectl(t, "describe", "machine", "web-0")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Name:\s+web-0$`),
		regexp.MustCompile(`(?m)^Namespace:\s+default$`),
		regexp.MustCompile(`(?m)^Labels:\s+app=web$`),
		regexp.MustCompile(`(?m)^Kind:\s+Machine$`),
		regexp.MustCompile(`(?m)^API Version:\s+compute\.ferrite\.dev/v1alpha1$`),
		regexp.MustCompile(`(?s)Machine Class Ref:\s+Name:\s+x3-small`),
		regexp.MustCompile(`(?m)^\s+Power:\s+On$`),
		regexp.MustCompile(`(?s)Volume Class Ref:\s+Name:\s+fast`),
		regexp.MustCompile(`(?s)Network Ref:\s+Name:\s+frontend`),
	} {
		if !want.MatchString(out) {
			t.Errorf("kubectl describe machine web-0: no match for %s", want)
		}
	}
	out = kubectl(t, "describe", "networks", "frontend")
	if !regexp.MustCompile(`(?m)^\s+Vni:\s+[1-9][0-9]*$`).MatchString(out) {
		t.Errorf("kubectl describe networks frontend shows no VNI")
	}
}

func testExplain(t *testing.T) {
	tests := []struct {
		field string
		want  []string // regular expressions
	}{
		{"machine.spec", []string{
			`(?m)^KIND:\s+Machine$`,
			`(?m)^GROUP:\s+compute\.ferrite\.dev$`,
			`(?m)^VERSION:\s+v1alpha1$`,
			`(?m)^FIELD: spec <MachineSpec>$`,
			`(?m)^\s+machineClassRef\s+<LocalObjectReference> -required-$`,
			`MachineClassRef names the MachineClass \(size\) of the machine`,
			`(?m)^\s+volumes\s+<\[\]MachineVolume>$`,
			`(?m)^\s+networkInterfaces\s+<\[\]MachineNetworkInterface>$`,
			`Power is the desired power state, On or Off\. Defaults to On\.`,
		}},
		{"machines.spec.volumes.ephemeral", []string{
			`(?m)^\s+volumeClassRef\s+<LocalObjectReference> -required-$`,
			`(?m)^\s+resources\s+<map\[string\]Quantity> -required-$`,
		}},
		{"networks.status.vni", []string{
			`(?m)^FIELD: vni <integer>$`,
			`VNI is the overlay network identifier`,
		}},
		{"prefix.spec", []string{`(?m)^\s+parentRef\s+<LocalObjectReference>$`, `(?m)^\s+prefixLength\s+<integer>$`}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			out := kubectl(t, "explain", tt.field)
			for _, want := range tt.want {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("no match for %s", want)
				}
			}
		})
	}
	out := kubectlFails(t, "", "explain", "machine.spec.powr")
	if !strings.Contains(out, `field "powr" does not exist`) {
		t.Errorf("explain of an unknown field: %s", out)
	}
}

func testServerSideApply(t *testing.T) {
	jsonpath := func(ref, path string) string {
		t.Helper()
		return kubectl(t, "get", ref, "-o", "jsonpath="+path)
	}
	generation := func() int {
		t.Helper()
		n, err := strconv.Atoi(jsonpath("machine/web-0", "{.metadata.generation}"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := generation()

	// The sample, powered off and with one more label, applied server-side by kubectl's own
	// field manager, which takes over the fields its client-side apply managed.
	off := mustReplace(t, machineSample(t), `power: "On"`, `power: "Off"`)
	off = mustReplace(t, off, "    app: web\n", "    app: web\n    tier: frontend\n")
	results := applyResults(t, kubectlIn(t, off, "apply", "--server-side", "-f", "-"))
	if got := results["machine.compute.ferrite.dev/web-0"]; got != "serverside-applied" {
		t.Fatalf("apply --server-side: %q", got)
	}
	if got := jsonpath("machine/web-0", "{.spec.power} {.metadata.labels.tier}"); got != "Off frontend" {
		t.Errorf("after apply --server-side: power and tier label %q, want %q", got, "Off frontend")
	}
	if after := generation(); after != before+1 {
		t.Errorf("generation %d after a spec change, want %d", after, before+1)
	}

	// Another manager that wants the power on conflicts with kubectl's ownership of it...
	on := machineSample(t)
	out := kubectlFails(t, on, "apply", "--server-side", "--field-manager=ferrite-e2e-ops", "-f", "-")
	if !strings.Contains(out, `conflict with "kubectl"`) || !strings.Contains(out, ".spec.power") {
		t.Errorf("want a conflict with manager kubectl on .spec.power, got:\n%s", out)
	}
	if got := jsonpath("machine/web-0", "{.spec.power}"); got != "Off" {
		t.Errorf("a conflicting apply changed power to %q", got)
	}
	// ...unless it forces it, and then owns the field.
	kubectlIn(t, on, "apply", "--server-side", "--field-manager=ferrite-e2e-ops", "--force-conflicts", "-f", "-")
	if got := jsonpath("machine/web-0", "{.spec.power}"); got != "On" {
		t.Errorf("after --force-conflicts power is %q, want On", got)
	}
	managers := jsonpath("machine/web-0", `{range .metadata.managedFields[*]}{.manager}:{.operation}{"\n"}{end}`)
	if !slices.Contains(sortedLines(managers), "ferrite-e2e-ops:Apply") {
		t.Errorf("managedFields lack ferrite-e2e-ops:Apply:\n%s", managers)
	}

	// Growing a volume of an ExpandOnly class through server-side apply; shrinking is refused.
	// In a namespace of its own: the sample quota of "default" has no computed usage without a
	// quota controller, and then refuses any growth there.
	volume := func(size string) string {
		return "apiVersion: storage.ferrite.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: grow\n  namespace: " + e2eNamespace + "\n" +
			"spec:\n  volumeClassRef:\n    name: fast\n  resources:\n    storage: " + size + "\n"
	}
	size := func() string {
		t.Helper()
		return parseTable(t, kubectl(t, "get", "volume", "grow", "-n", e2eNamespace)).row(t, "grow")["SIZE"]
	}
	ensureNamespace(t, e2eNamespace)
	kubectlIn(t, volume("10Gi"), "apply", "--server-side", "-f", "-")
	defer kubectl(t, "delete", "volume", "grow", "-n", e2eNamespace, "--timeout=30s")
	kubectlIn(t, volume("30Gi"), "apply", "--server-side", "-f", "-")
	if got := size(); got != "30Gi" {
		t.Errorf("volume size %q after growing, want 30Gi", got)
	}
	out = kubectlFails(t, volume("20Gi"), "apply", "--server-side", "-f", "-")
	if !strings.Contains(out, "spec.resources[storage]") || !strings.Contains(out, "cannot shrink") {
		t.Errorf("shrinking a volume: want an error on spec.resources[storage], got:\n%s", out)
	}
	if got := size(); got != "30Gi" {
		t.Errorf("volume size %q after a refused shrink, want 30Gi", got)
	}
}

// testServerSideApplyCreate creates a network through apply --server-side (the create-on-update
// path of the store, not its Create) and wants it to get a VNI all the same.
func testServerSideApplyCreate(t *testing.T) {
	network := "apiVersion: networking.ferrite.dev/v1alpha1\nkind: Network\nmetadata:\n  name: e2e-ssa\n  namespace: default\n"
	results := applyResults(t, kubectlIn(t, network, "apply", "--server-side", "-f", "-"))
	if got := results["network.networking.ferrite.dev/e2e-ssa"]; got != "serverside-applied" {
		t.Fatalf("creating with apply --server-side: %q", got)
	}
	defer kubectl(t, "delete", "network", "e2e-ssa", "--timeout=30s")
	vnis := map[string]string{}
	for _, line := range sortedLines(kubectl(t, "get", "networks", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.vni}{"\n"}{end}`)) {
		name, vni, _ := strings.Cut(line, " ")
		if n, err := strconv.Atoi(vni); err != nil || n <= 0 {
			t.Errorf("network %s: VNI %q, want a positive number", name, vni)
		}
		if other, dup := vnis[vni]; dup {
			t.Errorf("networks %s and %s share VNI %s", other, name, vni)
		}
		vnis[vni] = name
	}
	if len(vnis) != 3 {
		t.Errorf("want three networks with distinct VNIs, got %v", vnis)
	}
}

func testInvalid(t *testing.T) {
	const machineHead = "apiVersion: compute.ferrite.dev/v1alpha1\nkind: Machine\nmetadata:\n  name: e2e-invalid\n  namespace: default\n"
	tests := []struct {
		name     string
		manifest string
		ref      string   // the object that must not exist afterwards
		want     []string // substrings of the error
	}{
		{"machine without machineClassRef",
			machineHead + "spec:\n  image: debian\n",
			"machine/e2e-invalid",
			[]string{`The Machine "e2e-invalid" is invalid`, "spec.machineClassRef.name: Required value"}},
		{"machine volume with two sources",
			machineHead + "spec:\n  machineClassRef:\n    name: x3-small\n  volumes:\n  - name: root\n    volumeRef:\n      name: data-0\n    emptyDisk: {}\n",
			"machine/e2e-invalid",
			[]string{"spec.volumes[0]", "must set exactly one of volumeRef, ephemeral or emptyDisk"}},
		{"machine with an unknown power state",
			machineHead + "spec:\n  machineClassRef:\n    name: x3-small\n  power: Sleeping\n",
			"machine/e2e-invalid",
			[]string{"spec.power", "Unsupported value"}},
		{"unknown field",
			machineHead + "spec:\n  machineClassRef:\n    name: x3-small\n  powr: \"Off\"\n",
			"machine/e2e-invalid",
			[]string{`unknown field "spec.powr"`}},
		{"NAT gateway ports not a power of two",
			"apiVersion: networking.ferrite.dev/v1alpha1\nkind: NATGateway\nmetadata:\n  name: e2e-invalid\n  namespace: default\n" +
				"spec:\n  networkRef:\n    name: backend\n  portsPerNetworkInterface: 1000\n",
			"natgateway/e2e-invalid",
			[]string{"spec.portsPerNetworkInterface", "power of two"}},
		{"root prefix without a range",
			"apiVersion: ipam.ferrite.dev/v1alpha1\nkind: Prefix\nmetadata:\n  name: e2e-invalid\n  namespace: default\nspec:\n  prefixLength: 24\n",
			"prefix/e2e-invalid",
			[]string{"spec.prefix: Required value"}},
		{"volume without storage",
			"apiVersion: storage.ferrite.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: e2e-invalid\n  namespace: default\n" +
				"spec:\n  volumeClassRef:\n    name: fast\n  resources:\n    iops: \"10\"\n",
			"volume/e2e-invalid",
			[]string{"spec.resources[storage]: Required value"}},
		{"network policy exception outside its block",
			"apiVersion: networking.ferrite.dev/v1alpha1\nkind: NetworkPolicy\nmetadata:\n  name: e2e-invalid\n  namespace: default\n" +
				"spec:\n  networkRef:\n    name: backend\n  networkInterfaceSelector: {}\n  ingress:\n  - peers:\n    - ipBlock:\n        cidr: 10.0.0.0/16\n        except: [10.1.0.0/24]\n",
			"networkpolicy/e2e-invalid",
			[]string{"spec.ingress[0].peers[0].ipBlock.except[0]", "must be inside cidr"}},
		{"machine class capabilities are immutable",
			"apiVersion: compute.ferrite.dev/v1alpha1\nkind: MachineClass\nmetadata:\n  name: x3-small\ncapabilities:\n  cpu: \"4\"\n  memory: 4Gi\n",
			"",
			[]string{"capabilities", "field is immutable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := kubectlFails(t, tt.manifest, "apply", "-f", "-")
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("error lacks %q:\n%s", want, out)
				}
			}
			if tt.ref != "" {
				if out := kubectlFails(t, "", "get", tt.ref); !strings.Contains(out, "NotFound") {
					t.Errorf("kubectl get %s: want NotFound, got:\n%s", tt.ref, out)
				}
			}
		})
	}
	if got := kubectl(t, "get", "machineclass", "x3-small", "-o", "jsonpath={.capabilities.cpu}"); got != "2" {
		t.Errorf("machine class cpu %q after a refused update, want 2", got)
	}
}

var deleteLine = regexp.MustCompile(`^(\S+) "([^"]+)" deleted\b`)

func testDelete(t *testing.T) {
	deleted := map[string]bool{}
	// Not waiting here: a deleted VirtualIP that had an address stays terminating for the
	// address quarantine (3 minutes on make run's control plane), which the wait below allows.
	for _, line := range strings.Split(strings.TrimSpace(kubectl(t, "delete", "-f", samplesDir(), "--wait=false")), "\n") {
		m := deleteLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("unexpected delete output line %q", line)
			continue
		}
		deleted[m[1]+"/"+m[2]] = true
	}
	for _, ref := range refs(func(sample) bool { return true }) {
		if !deleted[ref] {
			t.Errorf("%s not deleted", ref)
		}
	}
	// A server of the suite's own must be empty within a minute; another one may hold objects
	// of its own. VirtualIPs in their address quarantine (terminating) do not count.
	var left []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		left = left[:0]
		for _, name := range sortedLines(kubectl(t, "get", "ferrite", "--all-namespaces", "-o",
			`jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}`)) {
			kind, terminating, _ := strings.Cut(name, " ")
			if strings.HasPrefix(kind, "VirtualIP/") && terminating != "" {
				continue
			}
			ref := strings.ToLower(strings.Replace(kind, "/", "."+groupOfKind(kind)+"/", 1))
			if suite.server != nil || slices.Contains(refs(func(sample) bool { return true }), ref) {
				left = append(left, ref)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, ref := range left {
		t.Errorf("left after delete: %s", ref)
	}
}

// groupOfKind returns the API group of a sample's kind ("Machine/web-0" → compute.ferrite.dev).
func groupOfKind(kindAndName string) string {
	kind, _, _ := strings.Cut(kindAndName, "/")
	for _, s := range samples {
		if s.kind == strings.ToLower(kind) {
			return s.group
		}
	}
	return "unknown"
}
