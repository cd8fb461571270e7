package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/rest"
)

// CPUProfile reads a CPU profile of the server over seconds (from /debug/pprof/profile, as
// the admin) and writes it to path.
func (s *APIServer) CPUProfile(ctx context.Context, seconds int, path string) error {
	config, err := s.RESTConfig()
	if err != nil {
		return err
	}
	config.Timeout = time.Duration(seconds+60) * time.Second
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/debug/pprof/profile?seconds=%d", s.Port, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/debug/pprof/profile: %s: %s", resp.Status, data)
	}
	return os.WriteFile(path, data, 0o644)
}
