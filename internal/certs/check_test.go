package certs

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestCheckRootCANotFound(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }},
		{"empty directory", func(t *testing.T) string { return t.TempDir() }},
		{"directory is a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			writeFile(t, filepath.Dir(p), "file", []byte("x"), 0o644)
			return p
		}},
		{"only other files", func(t *testing.T) string {
			d := t.TempDir()
			writeFile(t, d, "server.crt", []byte("x"), 0o644)
			writeFile(t, d, "sub/rootCA.crt", []byte("x"), 0o644)
			return d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := tt.dir(t)
			abs, err := filepath.Abs(dir)
			is.NoErr(err)
			_, err = Check(dir, t0)
			is.True(err != nil)
			is.True(errors.Is(err, ErrRootCANotFound))
			want := "Root CA not found at " + filepath.Join(abs, "rootCA.crt") +
				`: set CERT_DIR to the directory that holds rootCA.crt, or create development certificates with "go run magefile.go certs:generate"`
			is.Equal(err.Error(), want)

			_, err = BundleFiles(dir)
			is.True(errors.Is(err, ErrRootCANotFound))
		})
	}
}

func TestCheckRelativeDir(t *testing.T) {
	is := is.New(t)
	s := newCertSet(t)
	t.Chdir(s.dir)
	rep, err := Check(".", t0)
	is.NoErr(err)
	is.Equal(rep.Dir, s.dir)
}

func TestCheck(t *testing.T) {
	soon := t0.Add(10 * 24 * time.Hour)
	tests := []struct {
		name string
		// change damages the valid set in s.dir.
		change    func(t *testing.T, s certSet)
		errs      []string // substrings the error must hold; none: no error
		warnings  []string // substrings, one per expected warning, in order
		files     []string // expected Report.Files, when set
		notInErrs []string
	}{
		{
			name:   "valid set",
			change: func(t *testing.T, s certSet) {},
			files:  []string{"client.crt", "client.key", "rootCA.crt", "rootCA.key", "server.crt", "server.key"},
		},
		{
			name: "only the root CA",
			change: func(t *testing.T, s certSet) {
				for _, f := range []string{"server.crt", "server.key", "client.crt", "client.key", "rootCA.key"} {
					if err := os.Remove(filepath.Join(s.dir, f)); err != nil {
						t.Fatal(err)
					}
				}
			},
			files: []string{"rootCA.crt"},
		},
		{
			name: "dotfiles, temp files and non-PEM files are not checked",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, ".server.crt.tmp-123", []byte("garbage"), 0o644)
				writeFile(t, s.dir, ".git/config.pem", []byte("garbage"), 0o644)
				writeFile(t, s.dir, "README.txt", []byte("not pem"), 0o644)
				writeFile(t, s.dir, "sub/extra-ca.CRT", s.root.certPEM(), 0o644)
			},
			files: []string{"client.crt", "client.key", "rootCA.crt", "rootCA.key", "server.crt", "server.key", "sub/extra-ca.CRT"},
		},
		{
			name: "garbage PEM in a nested file",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "sub/notes.pem", []byte("hello, not a certificate\n"), 0o644)
			},
			errs: []string{"parse sub/notes.pem", "no PEM block"},
		},
		{
			name: "empty key file",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "server.key", nil, 0o600)
			},
			errs:      []string{"parse server.key", "no PEM block"},
			notInErrs: []string{"verify"},
		},
		{
			name: "corrupt CERTIFICATE block",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "extra.cert", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
			},
			errs: []string{"parse extra.cert", "block 1 (CERTIFICATE)"},
		},
		{
			name: "corrupt PRIVATE KEY block",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "server.key", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
			},
			errs: []string{"parse server.key", "PRIVATE KEY"},
		},
		{
			name: "corrupt root CA",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "rootCA.crt", []byte("garbage"), 0o644)
			},
			errs:      []string{"parse rootCA.crt"},
			notInErrs: []string{"server.crt", "client.crt"},
		},
		{
			name: "root is not a CA",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "rootCA.crt", s.server.certPEM(), 0o644)
			},
			errs: []string{"check rootCA.crt", "not a CA certificate"},
		},
		{
			name: "root file holds a private key",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "rootCA.crt", concat(s.root.certPEM(), s.root.keyPEM(t)), 0o644)
			},
			errs: []string{"check rootCA.crt", "holds a private key"},
		},
		{
			name: "root expired",
			change: func(t *testing.T, s certSet) {
				old := mkCert(t, spec{cn: "old root", ca: true, notBefore: t0.AddDate(-2, 0, 0), notAfter: t0.AddDate(0, 0, -1)}, nil)
				writeFile(t, s.dir, "rootCA.crt", old.certPEM(), 0o644)
			},
			errs: []string{"check rootCA.crt", "expired on 2030-05-31"},
		},
		{
			name: "root expiring within 30 days",
			change: func(t *testing.T, s certSet) {
				root := mkCert(t, spec{cn: "short root", ca: true, notAfter: soon}, nil)
				srv := mkCert(t, spec{cn: "srv", notAfter: soon, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &root)
				writeFile(t, s.dir, "rootCA.crt", root.certPEM(), 0o644)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
				os.Remove(filepath.Join(s.dir, "client.crt"))
				os.Remove(filepath.Join(s.dir, "client.key"))
			},
			warnings: []string{"rootCA.crt: certificate \"CN=short root\" expires on 2030-06-11 (in 10 days)", "server.crt: certificate \"CN=srv\" expires on 2030-06-11"},
		},
		{
			name: "server signed by another CA",
			change: func(t *testing.T, s certSet) {
				other := mkCert(t, spec{cn: "other root", ca: true}, nil)
				srv := mkCert(t, spec{cn: "srv", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &other)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
			errs:      []string{"verify server.crt against rootCA.crt", "unknown authority"},
			notInErrs: []string{"client.crt"},
		},
		{
			name: "server chain through an intermediate",
			change: func(t *testing.T, s certSet) {
				inter := mkCert(t, spec{cn: "intermediate", ca: true}, &s.root)
				srv := mkCert(t, spec{cn: "srv", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &inter)
				writeFile(t, s.dir, "server.crt", concat(srv.certPEM(), inter.certPEM()), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
		},
		{
			name: "server chain missing its intermediate",
			change: func(t *testing.T, s certSet) {
				inter := mkCert(t, spec{cn: "intermediate", ca: true}, &s.root)
				srv := mkCert(t, spec{cn: "srv", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &inter)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
			errs: []string{"verify server.crt"},
		},
		{
			name: "server key mismatch",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "server.key", s.client.keyPEM(t), 0o600)
			},
			errs:      []string{"check server.crt", "does not match the private key in server.key"},
			notInErrs: []string{"verify"},
		},
		{
			name: "server key encrypted",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "server.key", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
			},
			errs: []string{"check server.key", "encrypted"},
		},
		{
			name: "server key in SEC 1 and a second block",
			change: func(t *testing.T, s certSet) {
				der, err := x509.MarshalECPrivateKey(s.server.key)
				if err != nil {
					t.Fatal(err)
				}
				data := concat([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
					pemBlock("EC PRIVATE KEY", der))
				writeFile(t, s.dir, "server.key", data, 0o600)
			},
		},
		{
			name: "server expired",
			change: func(t *testing.T, s certSet) {
				srv := mkCert(t, spec{cn: "srv", notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.Add(-time.Hour), usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &s.root)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
			errs:      []string{"check server.crt", "expired on 2030-06-01"},
			notInErrs: []string{"verify"},
		},
		{
			name: "server not yet valid",
			change: func(t *testing.T, s certSet) {
				srv := mkCert(t, spec{cn: "srv", notBefore: t0.Add(time.Hour), usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &s.root)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
			errs: []string{"check server.crt", "not valid before 2030-06-01T13:00:00Z"},
		},
		{
			name: "server expiring within 30 days",
			change: func(t *testing.T, s certSet) {
				srv := mkCert(t, spec{cn: "srv", notAfter: soon, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &s.root)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
			warnings: []string{"server.crt: certificate \"CN=srv\" expires on 2030-06-11 (in 10 days)"},
		},
		{
			name: "server expiring in 31 days: no warning",
			change: func(t *testing.T, s certSet) {
				srv := mkCert(t, spec{cn: "srv", notAfter: t0.Add(31 * 24 * time.Hour), usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &s.root)
				writeFile(t, s.dir, "server.crt", srv.certPEM(), 0o644)
				writeFile(t, s.dir, "server.key", srv.keyPEM(t), 0o600)
			},
		},
		{
			name: "server.crt without server.key",
			change: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "server.key"))
			},
			errs: []string{"check server.crt: server.key not found at " + "<dir>/server.key"},
		},
		{
			name: "server.key without server.crt",
			change: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "server.crt"))
			},
			errs: []string{"check server.key: server.crt not found at <dir>/server.crt"},
		},
		{
			name: "client.crt without client.key",
			change: func(t *testing.T, s certSet) {
				os.Remove(filepath.Join(s.dir, "client.key"))
			},
			errs:      []string{"client.key not found"},
			notInErrs: []string{"server"},
		},
		{
			name: "client certificate only for server auth",
			change: func(t *testing.T, s certSet) {
				c := mkCert(t, spec{cn: "cli", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &s.root)
				writeFile(t, s.dir, "client.crt", c.certPEM(), 0o644)
				writeFile(t, s.dir, "client.key", c.keyPEM(t), 0o600)
			},
			errs: []string{"verify client.crt", "key usage"},
		},
		{
			name: "several problems reported together",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "junk.pem", []byte("junk"), 0o644)
				writeFile(t, s.dir, "client.key", s.server.keyPEM(t), 0o600)
			},
			errs: []string{"parse junk.pem", "check client.crt: its public key does not match"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			s := newCertSet(t)
			tt.change(t, s)
			rep, err := Check(s.dir, t0)
			is.Equal(rep.Dir, s.dir)
			if len(tt.errs) == 0 {
				is.NoErr(err)
			} else {
				is.True(err != nil)
				for _, want := range tt.errs {
					want = strings.ReplaceAll(want, "<dir>", s.dir)
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
			}
			for _, no := range tt.notInErrs {
				if err != nil && strings.Contains(err.Error(), no) {
					t.Errorf("error %q should not mention %q", err, no)
				}
			}
			is.Equal(len(rep.Warnings), len(tt.warnings)) // warnings
			for i, want := range tt.warnings {
				if i < len(rep.Warnings) && !strings.Contains(rep.Warnings[i], want) {
					t.Errorf("warning %q does not contain %q", rep.Warnings[i], want)
				}
			}
			if tt.files != nil {
				is.Equal(rep.Files, tt.files)
			}
		})
	}
}

func TestCheckFollowsSymlinks(t *testing.T) {
	is := is.New(t)
	s := newCertSet(t)
	// A Kubernetes-style secret mount: files are links into a hidden data directory, and the
	// certificate directory itself is reached through a link.
	data := filepath.Join(s.dir, "..data")
	is.NoErr(os.Mkdir(data, 0o755))
	for _, f := range []string{"server.crt", "server.key"} {
		is.NoErr(os.Rename(filepath.Join(s.dir, f), filepath.Join(data, f)))
		is.NoErr(os.Symlink(filepath.Join("..data", f), filepath.Join(s.dir, f)))
	}
	link := filepath.Join(t.TempDir(), "certs")
	is.NoErr(os.Symlink(s.dir, link))

	rep, err := Check(link, t0)
	is.NoErr(err)
	is.Equal(rep.Files, []string{"client.crt", "client.key", "rootCA.crt", "rootCA.key", "server.crt", "server.key"})

	// A broken link is an error naming it.
	is.NoErr(os.Symlink("missing.crt", filepath.Join(s.dir, "broken.crt")))
	_, err = Check(link, t0)
	is.True(err != nil && strings.Contains(err.Error(), "follow symlink broken.crt"))
}
