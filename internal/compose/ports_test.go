package compose

import (
	"testing"

	"github.com/matryer/is"
)

func TestPublishedPorts(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []string
		wantErr bool
	}{
		{name: "short forms", yaml: `
services:
  a:
    image: a
    ports: ["8443:8443", "127.0.0.1:9000:9000", "80", "53:53/udp", "9100-9101:9100-9101", "[::1]:7000:7", "8443:443"]
  b:
    image: b
    ports: ["${WEB_PORT}:80", "${MISSING:-9428}:9428"]
`, want: []string{"53/udp", "7000", "8080", "8443", "9000", "9100-9101", "9428"}},
		{name: "long form", yaml: `
services:
  a:
    image: a
    ports:
      - target: 80
        published: "8081"
      - target: 81
        published: 8082
        protocol: udp
      - target: 82
`, want: []string{"8081", "8082/udp"}},
		{name: "no ports", yaml: "services:\n  a:\n    image: a\n"},
		{name: "bad host address", yaml: "services:\n  a:\n    ports: [\"nothost:1:2\"]\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := PublishedPorts([]byte(tt.yaml), map[string]string{"WEB_PORT": "8080"})
			if tt.wantErr {
				is.True(err != nil)
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}
