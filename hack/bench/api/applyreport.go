package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// printApply prints the server-side apply rows with the apiserver's CPU per Machine next to
// that of the plain create.
func printApply(out io.Writer, rows []applyRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(out, "\nSERVER-SIDE APPLY: %d Machines per row, %d clients, protobuf responses; stored = bytes of a Machine in etcd after the row\n", rows[0].result.Ops, applyOptions.clients)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\tper s\tp50 ms\tp99 ms\tapiserver CPU ms\tx create\tstored bytes\t")
	base := rows[0].result.CPUPerThousand(rows[0].result.CPU.APIServer)
	for _, r := range rows {
		cpu := r.result.CPUPerThousand(r.result.CPU.APIServer)
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.3f\t%.2f\t%d\t\n", r.what, r.result.PerSecond(), ms(r.result.Percentile(50)), ms(r.result.Percentile(99)), cpu, cpu/base, r.stored)
	}
	tw.Flush()
}
