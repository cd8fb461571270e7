package main

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {100, 10}, {1, 1}} {
		if got := percentile(values, c.p); got != c.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]float64{3}, 90); got != 3 {
		t.Errorf("percentile of one value = %v, want it", got)
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile of none = %v, want NaN", got)
	}
}

func TestParseProcStatus(t *testing.T) {
	m := parseProcStatus([]byte("Name:\tlibvirt-provider\nVmPeak:\t 2000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads:\t12\n"))
	if m.err != nil || m.rss != 40960 || m.hwm != 81920 {
		t.Fatalf("got %+v, want rss 40960 hwm 81920", m)
	}
	if m.String() != "40.0 / 80.0" {
		t.Errorf("String() = %q", m.String())
	}
	if m := parseProcStatus([]byte("Name:\tkthreadd\n")); m.err == nil {
		t.Error("a status without VmRSS parsed without error")
	}
}

func TestRunningRounds(t *testing.T) {
	rounds, err := runningRounds("1/cold, 1/cached,50/cold")
	if err != nil {
		t.Fatal(err)
	}
	want := []runningRound{{1, true}, {1, false}, {50, true}}
	if !slices.Equal(rounds, want) {
		t.Fatalf("rounds %v, want %v", rounds, want)
	}
	for _, bad := range []string{"1/warm", "10", "0/cold", "x/cached"} {
		if _, err := runningRounds(bad); err == nil {
			t.Errorf("-running-rounds %q accepted", bad)
		}
	}
}

// A machine that never started counts in the phases it completed and not in the later ones.
func TestPrintRound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	full := func(offset float64) *stamps {
		return &stamps{created: at(0), bound: at(0.1), added: at(0.2 + offset), pulling: at(0.2 + offset), pulled: at(0.5 + offset),
			defined: at(0.6 + offset), started: at(1.6 + offset), consoleFirst: at(4.6 + offset), guestUp: at(4.6 + offset),
			guestReady: at(5 + offset), running: at(1.7 + offset)}
	}
	stuck := &stamps{created: at(0), bound: at(0.1), added: at(0.3)}
	var out bytes.Buffer
	printRound(&out, roundOutcome{round: runningRound{machines: 3, cold: true}, machines: []*stamps{full(0), full(2), stuck},
		wall: 3700 * time.Millisecond, deleted: 2 * time.Second})
	// Compared with single spaces: the columns' widths are tabwriter's.
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"3 machines, image cache cold: 2/3 Running, all Running after 3.7 s",
		"scheduling create -> spec.machinePoolRef set 3 0.10 0.10 0.10",
		"poollet bound -> runtime machine exists 3 0.20 2.10 2.10",
		"start Defined -> runtime state RUNNING 2 1.00 1.00 1.00",
		"total create -> Machine status Running 2 1.70 3.70 3.70",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
}
