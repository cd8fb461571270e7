package localcluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// ports are the loopback ports of the local control plane.
type ports struct {
	etcdClient, etcdPeer, kubeAPIServer, ferrite int
}

// loadPorts reuses the ports recorded in path while they are free, so kubeconfigs stay valid
// across restarts, and picks free ones otherwise.
func loadPorts(path string) (ports, error) {
	var recorded []int
	if data, err := os.ReadFile(path); err == nil {
		for _, field := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(field); err == nil {
				recorded = append(recorded, n)
			}
		}
	}
	chosen := make([]int, 4)
	taken := map[int]bool{}
	for i := range chosen {
		if i < len(recorded) && !taken[recorded[i]] && standalone.PortFree(recorded[i]) {
			chosen[i] = recorded[i]
			taken[chosen[i]] = true
			continue
		}
		// A port just closed can be handed out again at once: never give two components one.
		for chosen[i] == 0 || taken[chosen[i]] {
			port, err := standalone.FreePort()
			if err != nil {
				return ports{}, err
			}
			chosen[i] = port
		}
		taken[chosen[i]] = true
	}
	p := ports{etcdClient: chosen[0], etcdPeer: chosen[1], kubeAPIServer: chosen[2], ferrite: chosen[3]}
	return p, os.WriteFile(path, []byte(fmt.Sprintf("%d %d %d %d\n", chosen[0], chosen[1], chosen[2], chosen[3])), 0o600)
}
