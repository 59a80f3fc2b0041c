package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestBundleFiles(t *testing.T) {
	all := []string{"client.crt", "client.key", "rootCA.crt", "server.crt", "server.key"}
	tests := []struct {
		name   string
		change func(t *testing.T, s certSet)
		want   []string
	}{
		{
			name:   "rootCA.key excluded, server and client keys kept",
			change: func(t *testing.T, s certSet) {},
			want:   all,
		},
		{
			name: "renamed copy of the CA key excluded",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "ca-private.pem", s.root.keyPEM(t), 0o600)
				writeFile(t, s.dir, "backup/my.secret", s.root.keyPEM(t), 0o600)
			},
			want: all,
		},
		{
			name: "CA key in SEC 1 PEM, DER, or appended to a certificate excluded",
			change: func(t *testing.T, s certSet) {
				sec1, err := x509.MarshalECPrivateKey(s.root.key)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, s.dir, "ca-ec.key", pemBlock("EC PRIVATE KEY", sec1), 0o600)
				writeFile(t, s.dir, "ca.der", sec1, 0o600)
				writeFile(t, s.dir, "combined.pem", concat(s.server.certPEM(), s.root.keyPEM(t)), 0o600)
			},
			want: all,
		},
		{
			name: "any name spelled rootCA.key excluded, even elsewhere",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "old/rootca.KEY", []byte("not even a key"), 0o600)
			},
			want: all,
		},
		{
			name: "intermediate CA key excluded, its certificate kept",
			change: func(t *testing.T, s certSet) {
				inter := mkCert(t, spec{cn: "intermediate", ca: true}, &s.root)
				writeFile(t, s.dir, "inter/ca.crt", inter.certPEM(), 0o644)
				writeFile(t, s.dir, "inter/ca.key", inter.keyPEM(t), 0o600)
			},
			want: []string{"client.crt", "client.key", "inter/ca.crt", "rootCA.crt", "server.crt", "server.key"},
		},
		{
			name: "other files kept, dotfiles and temp files skipped",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "README.md", []byte("# certs"), 0o644)
				writeFile(t, s.dir, "nginx/dhparam.pem", []byte("-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n"), 0o644)
				writeFile(t, s.dir, ".rootCA.key.tmp-42", s.root.keyPEM(t), 0o600)
				writeFile(t, s.dir, ".hidden/x.crt", s.server.certPEM(), 0o644)
				// An unrelated RSA key stays: only CA keys are secret from the bundle.
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, s.dir, "db.key", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)), 0o600)
			},
			want: []string{"README.md", "client.crt", "client.key", "db.key", "nginx/dhparam.pem", "rootCA.crt", "server.crt", "server.key"},
		},
		{
			name: "symlinks to files followed and reported by link path",
			change: func(t *testing.T, s certSet) {
				if err := os.Symlink("server.crt", filepath.Join(s.dir, "tls.crt")); err != nil {
					t.Fatal(err)
				}
				// A link to the CA key is a CA key too.
				if err := os.Symlink("rootCA.key", filepath.Join(s.dir, "ca-link.pem")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"client.crt", "client.key", "rootCA.crt", "server.crt", "server.key", "tls.crt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			s := newCertSet(t)
			tt.change(t, s)
			got, err := BundleFiles(s.dir)
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestBundleFilesErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, s certSet)
		want   string
	}{
		{
			name: "unreadable root CA: cannot tell which key is the CA's",
			change: func(t *testing.T, s certSet) {
				writeFile(t, s.dir, "rootCA.crt", []byte("garbage"), 0o644)
			},
			want: "no CERTIFICATE PEM block",
		},
		{
			name: "symlink to a directory",
			change: func(t *testing.T, s certSet) {
				if err := os.Symlink(t.TempDir(), filepath.Join(s.dir, "more")); err != nil {
					t.Fatal(err)
				}
			},
			want: "follow symlink more",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			s := newCertSet(t)
			tt.change(t, s)
			_, err := BundleFiles(s.dir)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.want)) // error names the problem
		})
	}
}

func TestSamePublicKey(t *testing.T) {
	is := is.New(t)
	a, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	is.NoErr(err)
	b, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	is.NoErr(err)
	is.True(samePublicKey(a.Public(), a.Public()))
	is.True(!samePublicKey(a.Public(), b.Public()))
	is.True(!samePublicKey(nil, a.Public()))
}
