package certs

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// snapshot records content, mode and modification time of every file in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Mode().String() + " " + fi.ModTime().String() + " " + string(data)
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parsePEM(data)
	if err != nil || len(c.certs) != 1 {
		t.Fatalf("parse %s: %v (%d certificates)", path, err, len(c.certs))
	}
	return c.certs[0]
}

func TestGenerateFresh(t *testing.T) {
	is := is.New(t)
	dir := filepath.Join(t.TempDir(), "a", "certs")
	created, err := Generate(dir, GenerateOptions{Hosts: []string{"db", "Api_1", "10.1.2.3", "localhost", " "}, Now: t0})
	is.NoErr(err)
	is.Equal(created, []string{"rootCA.key", "rootCA.crt", "server.key", "server.crt", "client.key", "client.crt"})

	rep, err := Check(dir, t0)
	is.NoErr(err)                  // generated set passes Check
	is.Equal(len(rep.Warnings), 0) // no warnings with the default validity

	fi, err := os.Stat(dir)
	is.NoErr(err)
	is.Equal(fi.Mode().Perm(), os.FileMode(0o755))
	for _, name := range created {
		fi, err := os.Stat(filepath.Join(dir, name))
		is.NoErr(err)
		want := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			want = 0o600
		}
		is.Equal(fi.Mode().Perm(), want) // file mode
	}

	ca := readCert(t, filepath.Join(dir, "rootCA.crt"))
	is.True(ca.IsCA)
	is.True(strings.HasPrefix(ca.Subject.CommonName, "dindbundler development CA "))
	is.Equal(ca.NotAfter, t0.Add(DefaultValidity).Truncate(time.Second))

	srv := readCert(t, filepath.Join(dir, "server.crt"))
	is.Equal(srv.DNSNames, []string{"localhost", "db", "api_1"})
	is.Equal(len(srv.IPAddresses), 3)
	is.True(srv.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")))
	is.True(srv.IPAddresses[1].Equal(net.ParseIP("::1")))
	is.True(srv.IPAddresses[2].Equal(net.ParseIP("10.1.2.3")))
	is.Equal(srv.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	is.True(srv.VerifyHostname("db") == nil)
	is.True(srv.VerifyHostname("10.1.2.3") == nil)
	is.True(!srv.NotBefore.After(t0.Add(-time.Hour)))

	cli := readCert(t, filepath.Join(dir, "client.crt"))
	is.Equal(cli.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	is.Equal(len(cli.DNSNames), 0)

	// The CA key stays out of the bundle; everything else goes in.
	files, err := BundleFiles(dir)
	is.NoErr(err)
	is.Equal(files, []string{"client.crt", "client.key", "rootCA.crt", "server.crt", "server.key"})

	// No temp files left behind.
	entries, err := os.ReadDir(dir)
	is.NoErr(err)
	is.Equal(len(entries), 6)
}

func TestGenerateIdempotent(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	_, err := Generate(dir, GenerateOptions{Now: t0})
	is.NoErr(err)
	before := snapshot(t, dir)

	missing, err := Plan(dir)
	is.NoErr(err)
	is.Equal(len(missing), 0)
	created, err := Generate(dir, GenerateOptions{Now: t0.Add(time.Hour), Hosts: []string{"new-host"}})
	is.NoErr(err)
	is.Equal(len(created), 0)
	is.Equal(snapshot(t, dir), before) // files unchanged
}

func TestGenerateReusesCA(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	_, err := Generate(dir, GenerateOptions{Now: t0})
	is.NoErr(err)
	for _, f := range []string{"server.crt", "server.key", "client.crt"} {
		is.NoErr(os.Remove(filepath.Join(dir, f)))
	}
	before := snapshot(t, dir)

	later := t0.Add(24 * time.Hour)
	missing, err := Plan(dir)
	is.NoErr(err)
	is.Equal(missing, []string{"server.key", "server.crt", "client.crt"})
	created, err := Generate(dir, GenerateOptions{Now: later, Hosts: []string{"web"}})
	is.NoErr(err)
	is.Equal(created, missing) // Plan predicts Generate
	after := snapshot(t, dir)
	for _, f := range []string{"rootCA.crt", "rootCA.key", "client.key"} {
		is.Equal(after[f], before[f]) // existing file untouched
	}
	_, err = Check(dir, later)
	is.NoErr(err)

	// The client certificate was issued for the client.key that was already there.
	cli := readCert(t, filepath.Join(dir, "client.crt"))
	key, err := readPrivateKey(filepath.Join(dir, "client.key"))
	is.NoErr(err)
	is.True(samePublicKey(cli.PublicKey, key.Public()))
	// Leaves never outlive the CA that signed them.
	ca := readCert(t, filepath.Join(dir, "rootCA.crt"))
	is.Equal(readCert(t, filepath.Join(dir, "server.crt")).NotAfter, ca.NotAfter)
}

func TestGenerateWithUserCA(t *testing.T) {
	is := is.New(t)
	s := newCertSet(t)
	for _, f := range []string{"server.crt", "server.key", "client.crt", "client.key"} {
		is.NoErr(os.Remove(filepath.Join(s.dir, f)))
	}
	created, err := Generate(s.dir, GenerateOptions{Now: t0, Validity: 90 * 24 * time.Hour})
	is.NoErr(err)
	is.Equal(created, []string{"server.key", "server.crt", "client.key", "client.crt"})
	rep, err := Check(s.dir, t0)
	is.NoErr(err)
	is.Equal(len(rep.Warnings), 0)
	// 90 days later the leaves are within the warning window.
	rep, err = Check(s.dir, t0.Add(70*24*time.Hour))
	is.NoErr(err)
	is.Equal(len(rep.Warnings), 2)
}

func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, s certSet)
		opts   GenerateOptions
		errs   []string
		noErr  bool
		wantCr []string
	}{
		{
			name: "root CA without its key and certificates to sign",
			setup: func(t *testing.T, s certSet) {
				for _, f := range []string{"rootCA.key", "server.crt", "server.key", "client.crt", "client.key"} {
					os.Remove(filepath.Join(s.dir, f))
				}
			},
			errs: []string{"cannot sign server.crt and client.crt", "rootCA.crt exists but rootCA.key does not", "put the CA key at <dir>/rootCA.key"},
		},
		{
			name: "root CA without its key, nothing to sign",
			setup: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "rootCA.key"))
			},
			noErr: true,
		},
		{
			name: "CA key that does not match the CA certificate",
			setup: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "rootCA.key", s.server.keyPEM(t), 0o600)
				os.Remove(filepath.Join(s.dir, "server.crt"))
				os.Remove(filepath.Join(s.dir, "server.key"))
			},
			errs: []string{"rootCA.key does not hold the private key of rootCA.crt"},
		},
		{
			name: "expired CA",
			setup: func(t *testing.T, s certSet) {
				old := mkCert(t, spec{cn: "old", ca: true, notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.Add(-time.Hour)}, nil)
				writeFile(t, s.dir, "rootCA.crt", old.certPEM(), 0o644)
				writeFile(t, s.dir, "rootCA.key", old.keyPEM(t), 0o600)
				os.Remove(filepath.Join(s.dir, "client.crt"))
			},
			errs: []string{"rootCA.crt expired on 2030-06-01"},
		},
		{
			name: "CA certificate that is not a CA",
			setup: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "rootCA.crt", s.server.certPEM(), 0o644)
				writeFile(t, s.dir, "rootCA.key", s.server.keyPEM(t), 0o600)
				os.Remove(filepath.Join(s.dir, "client.crt"))
			},
			errs: []string{"rootCA.crt is not a CA certificate"},
		},
		{
			name: "invalid host",
			setup: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "server.crt"))
				os.Remove(filepath.Join(s.dir, "server.key"))
			},
			opts: GenerateOptions{Hosts: []string{"db:5432"}},
			errs: []string{`host "db:5432" is neither an IP address nor a DNS name`},
		},
		{
			name:  "negative validity",
			setup: func(t *testing.T, s certSet) { os.Remove(filepath.Join(s.dir, "server.crt")) },
			opts:  GenerateOptions{Validity: -time.Hour},
			errs:  []string{"negative validity"},
		},
		{
			name: "server.crt without server.key",
			setup: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "server.key"))
			},
			errs: []string{"server.crt exists without server.key"},
		},
		{
			name: "rootCA.key without rootCA.crt",
			setup: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "rootCA.crt"))
			},
			errs: []string{"rootCA.key exists without rootCA.crt"},
		},
		{
			name: "leaf certificates without any CA",
			setup: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "rootCA.crt"))
				os.Remove(filepath.Join(s.dir, "rootCA.key"))
				os.Remove(filepath.Join(s.dir, "client.crt"))
				os.Remove(filepath.Join(s.dir, "client.key"))
			},
			errs: []string{"server.crt exists but rootCA.crt does not"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			s := newCertSet(t)
			tt.setup(t, s)
			before := snapshot(t, s.dir)
			opts := tt.opts
			opts.Now = t0
			created, err := Generate(s.dir, opts)
			is.Equal(len(created), 0)
			is.Equal(snapshot(t, s.dir), before) // nothing written or removed
			if tt.noErr {
				is.NoErr(err)
				return
			}
			is.True(err != nil)
			for _, want := range tt.errs {
				want = strings.ReplaceAll(want, "<dir>", s.dir)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestGenerateNeverReplacesRacingFile(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	g := &generator{dir: dir, now: t0, validity: time.Hour}
	writeFile(t, dir, "server.crt", []byte("someone else's"), 0o644)
	err := g.write("server.crt", "CERTIFICATE", []byte{1}, 0o644)
	is.True(err != nil)
	data, err := os.ReadFile(filepath.Join(dir, "server.crt"))
	is.NoErr(err)
	is.Equal(string(data), "someone else's")
}

func TestPlanFiles(t *testing.T) {
	all := []string{"rootCA.key", "rootCA.crt", "server.key", "server.crt", "client.key", "client.crt"}
	tests := []struct {
		name    string
		present []string
		want    []string
		err     string
	}{
		{name: "empty", want: all},
		{name: "complete", present: all, want: nil},
		{name: "CA only", present: []string{"rootCA.crt", "rootCA.key"}, want: all[2:]},
		{name: "CA and server", present: all[:4], want: []string{"client.key", "client.crt"}},
		{name: "server key kept", present: []string{"rootCA.crt", "rootCA.key", "server.key"}, want: []string{"server.crt", "client.key", "client.crt"}},
		{name: "no CA, only a server key", present: []string{"server.key"}, want: []string{"rootCA.key", "rootCA.crt", "server.crt", "client.key", "client.crt"}},
		{name: "CA cert only, leaves present", present: all[1:], want: nil},
		{name: "CA cert only, client missing", present: all[1:4], err: "cannot sign client.crt"},
		{name: "CA key only", present: []string{"rootCA.key"}, err: "rootCA.key exists without rootCA.crt"},
		{name: "client cert without key", present: []string{"rootCA.crt", "rootCA.key", "client.crt"}, err: "client.crt exists without client.key"},
		{name: "leaves without CA", present: all[2:], err: "server.crt and client.crt exist but rootCA.crt does not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			present := map[string]bool{}
			for _, p := range tt.present {
				present[p] = true
			}
			got, err := planFiles("/certs", present)
			if tt.err != "" {
				is.True(err != nil)
				if !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %q does not contain %q", err, tt.err)
				}
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestServerSANs(t *testing.T) {
	tests := []struct {
		hosts []string
		dns   []string
		ips   int
		err   bool
	}{
		{hosts: nil, dns: []string{"localhost"}, ips: 2},
		{hosts: []string{"db", "DB", "localhost", "*.svc.local", "my_service"}, dns: []string{"localhost", "db", "*.svc.local", "my_service"}, ips: 2},
		{hosts: []string{"::1", "127.0.0.1", "fd00::5", "192.168.1.1"}, dns: []string{"localhost"}, ips: 4},
		{hosts: []string{"bad host"}, err: true},
		{hosts: []string{"a..b"}, err: true},
		{hosts: []string{"http://x"}, err: true},
		{hosts: []string{strings.Repeat("a", 64)}, err: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.hosts, ","), func(t *testing.T) {
			is := is.New(t)
			dns, ips, err := serverSANs(tt.hosts)
			if tt.err {
				is.True(err != nil)
				return
			}
			is.NoErr(err)
			is.Equal(dns, tt.dns)
			is.Equal(len(ips), tt.ips)
		})
	}
}
