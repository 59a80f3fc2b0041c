package certs

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestEncryptedKeysRefused: an encrypted private key in CERT_DIR cannot be shown not to be the
// CA's, so the Certs stage and the bundle refuse it, naming the file; rootCA.key itself is never
// bundled and stays allowed.
func TestEncryptedKeysRefused(t *testing.T) {
	pkcs8 := pemBlock("ENCRYPTED PRIVATE KEY", []byte("opaque without the passphrase"))
	legacy := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte("opaque")})
	tests := []struct {
		name    string
		rel     string
		data    []byte
		refused bool
	}{
		{"PKCS#8 encrypted copy of the CA key, any name", "backup/ca.pem", pkcs8, true},
		{"legacy OpenSSL encryption", "old.key", legacy, true},
		{"appended to a certificate", "bundle.crt", nil, true},
		{"rootCA.key encrypted: never bundled anyway", "rootCA.key", pkcs8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			s := newCertSet(t)
			data := tt.data
			if data == nil {
				data = concat(s.server.certPEM(), pkcs8)
			}
			writeFile(t, s.dir, tt.rel, data, 0o600)
			_, bundleErr := BundleFiles(s.dir)
			_, checkErr := Check(s.dir, t0)
			if !tt.refused {
				is.NoErr(bundleErr)
				is.NoErr(checkErr)
				return
			}
			for _, err := range []error{bundleErr, checkErr} {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.rel+" holds an encrypted private key")) // names the file
				is.True(strings.Contains(err.Error(), "move it out of CERT_DIR"))                // says what to do
			}
		})
	}
}

func TestHoldsPrivateKey(t *testing.T) {
	s := newCertSet(t)
	sec1, err := x509.MarshalECPrivateKey(s.server.key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"PKCS#8 PEM named anything", s.server.keyPEM(t), true},
		{"SEC 1 PEM", pemBlock("EC PRIVATE KEY", sec1), true},
		{"DER", sec1, true},
		{"encrypted PKCS#8", pemBlock("ENCRYPTED PRIVATE KEY", []byte("x")), true},
		{"OpenSSH", pemBlock("OPENSSH PRIVATE KEY", []byte("x")), true},
		{"a key after a certificate", concat(s.server.certPEM(), s.server.keyPEM(t)), true},
		{"a certificate", s.server.certPEM(), false},
		{"a public key", pemBlock("PUBLIC KEY", []byte("x")), false},
		{"text", []byte("listen 443 ssl;\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is.New(t).Equal(HoldsPrivateKey(tt.data), tt.want)
		})
	}
}
