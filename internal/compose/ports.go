package compose

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// PublishedPorts lists the host ports the services of a compose file publish ("8443",
// "53/udp", "9000-9001"), sorted and once each, after interpolation with vars: what a DinD
// container running the stack must publish in turn. Ports without a host side (a random host
// port) are left out; so is the host address, which belongs to the outer `docker run`.
func PublishedPorts(data []byte, vars map[string]string) ([]string, error) {
	var raw struct {
		Services map[string]struct {
			Ports []yaml.Node `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("compose file: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for name, s := range raw.Services {
		for _, n := range s.Ports {
			p, err := publishedPort(&n, vars)
			if err != nil {
				return nil, fmt.Errorf("compose file: service %s: ports: %w", name, err)
			}
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func publishedPort(n *yaml.Node, vars map[string]string) (string, error) {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Published string `yaml:"published"`
			Protocol  string `yaml:"protocol"`
		}
		if err := n.Decode(&long); err != nil {
			return "", err
		}
		p, err := Interpolate(long.Published, vars)
		if err != nil || p == "" {
			return "", err
		}
		return withProtocol(p, long.Protocol), nil
	}
	s, err := Interpolate(n.Value, vars)
	if err != nil {
		return "", err
	}
	spec, proto, _ := strings.Cut(s, "/")
	// [HOST:]HOST_PORT:CONTAINER_PORT, HOST possibly an IPv6 address in brackets.
	i := strings.LastIndex(spec, ":")
	if i < 0 {
		return "", nil // container port only: the engine picks the host port
	}
	host := spec[:i]
	if j := strings.LastIndex(host, ":"); j >= 0 {
		if ip := strings.Trim(host[:j], "[]"); net.ParseIP(ip) == nil && ip != "" {
			return "", fmt.Errorf("%q: %q is not an IP address", s, ip)
		}
		host = host[j+1:]
	}
	if host == "" {
		return "", nil
	}
	return withProtocol(host, proto), nil
}

func withProtocol(port, proto string) string {
	if proto == "" || proto == "tcp" {
		return port
	}
	return port + "/" + proto
}
