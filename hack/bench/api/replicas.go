package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// replicasOptions are the flags of the two-apiserver phase.
var replicasOptions struct {
	count, clients int
}

func replicasFlags() {
	flag.IntVar(&replicasOptions.count, "replicas-count", 5000, "two-apiserver phase: Machines created through one apiserver, then as many through two on the same etcd (0: no such phase)")
	flag.IntVar(&replicasOptions.clients, "replicas-clients", 64, "two-apiserver phase: concurrent clients; with two apiservers, client i talks to apiserver i mod 2")
}

// replicasRow is the creates through one or two apiservers and the etcd ceiling measured
// just before.
type replicasRow struct {
	apiservers       int
	creates, ceiling load.Result
	// cpu is the CPU seconds each apiserver used during the creates.
	cpu []float64
}

// runReplicas creates -replicas-count Machines through the benchmark's apiserver, then starts
// a second ferrite-apiserver on the same etcd and creates as many again with the clients
// spread over both, each time after the etcd ceiling of the same transactions at the same
// concurrency. The second apiserver is stopped at the end. It returns the rows and the number
// of Machines created.
func runReplicas(ctx context.Context, e *env, sample []byte) ([]replicasRow, int, error) {
	n, clients := replicasOptions.count, replicasOptions.clients
	if n <= 0 {
		return nil, 0, nil
	}
	if clients > len(e.protoCreators) {
		clients = len(e.protoCreators)
	}
	var rows []replicasRow
	measure := func(servers []*cluster.APIServer, creators []versioned.Interface) error {
		progress("etcd ceiling: %d transactions, %d clients", n, clients)
		ceiling := etcdCeiling(ctx, e.meter, e.etcd.Client, fmt.Sprintf("/bench-ceiling/replicas-%d/", len(servers)), sample, n, clients)
		progress("protobuf creates through %d apiserver(s): %d Machines, %d clients", len(servers), n, clients)
		before := make([]float64, len(servers))
		for i, s := range servers {
			before[i], _ = cluster.CPUSeconds(s.PID())
		}
		r := createMachines(ctx, e.meter, creators, fmt.Sprintf("replicas-%d", len(servers)), n, clients)
		row := replicasRow{apiservers: len(servers), creates: r, ceiling: ceiling}
		for i, s := range servers {
			after, err := cluster.CPUSeconds(s.PID())
			if err != nil {
				return err
			}
			row.cpu = append(row.cpu, after-before[i])
		}
		rows = append(rows, row)
		return nil
	}
	if err := measure([]*cluster.APIServer{e.apiserver}, e.protoCreators[:clients]); err != nil {
		return nil, n, err
	}

	progress("starting a second ferrite-apiserver on the same etcd")
	second, err := cluster.NewAPIServer(e.apiserver.Bin, filepath.Join(filepath.Dir(e.apiserver.DataDir), "apiserver-2"), e.etcd.Endpoint, e.apiserver.Args...)
	if err != nil {
		return nil, n, err
	}
	second.Env = e.apiserver.Env
	if err := os.MkdirAll(second.DataDir, 0o755); err != nil {
		return nil, n, err
	}
	if err := second.Start(2 * time.Minute); err != nil {
		return nil, n, err
	}
	defer second.Stop()
	config, err := second.RESTConfig()
	if err != nil {
		return nil, n, err
	}
	// Client i talks to apiserver i mod 2, each on its own connection.
	creators := make([]versioned.Interface, clients)
	for i := range creators {
		if i%2 == 0 {
			creators[i] = e.protoCreators[i/2]
			continue
		}
		if creators[i], err = versioned.NewForConfig(load.OwnConnection(config)); err != nil {
			return nil, n, err
		}
	}
	if err := measure([]*cluster.APIServer{e.apiserver, second}, creators); err != nil {
		return nil, 2 * n, err
	}
	return rows, 2 * n, nil
}

// printReplicas prints the two-apiserver phase next to its ceilings.
func printReplicas(out io.Writer, rows []replicasRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(out, "\nTWO APISERVERS: %d protobuf creates at %d clients through one ferrite-apiserver, then through two on the same (single-member) etcd; with two, client i talks to apiserver i mod 2\n",
		rows[0].creates.Ops, replicasOptions.clients)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "apiservers\tcreates/s\tp50 ms\tp99 ms\terrors\tceiling txn/s\tratio\tapiserver CPU\teach apiserver\tetcd CPU\tclient CPU\t")
	for _, row := range rows {
		s, c := row.creates, row.ceiling
		total := 0.0
		var each []string
		for _, cpu := range row.cpu {
			total += cpu
			each = append(each, fmt.Sprintf("%.3f", s.CPUPerThousand(cpu)))
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t%d\t%.0f\t%.2f\t%.3f\t%s\t%.3f\t%.3f\t\n", row.apiservers, s.PerSecond(),
			ms(s.Percentile(50)), ms(s.Percentile(99)), s.Errors, c.PerSecond(), s.PerSecond()/c.PerSecond(),
			s.CPUPerThousand(total), strings.Join(each, " + "), s.CPUPerThousand(s.CPU.Etcd), s.CPUPerThousand(s.CPU.Client))
	}
	tw.Flush()
	for _, row := range rows {
		if row.creates.FirstErr != nil {
			fmt.Fprintf(out, "  first error (%d apiservers): %v\n", row.apiservers, row.creates.FirstErr)
		}
	}
	fmt.Fprintf(out, "  apiserver CPU is seconds per 1,000 creates summed over the apiservers; each apiserver also keeps a watch cache of every Machine, fed by its own etcd watch.\n")
}
