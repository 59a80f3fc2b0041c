// Package certs checks the certificate directory (CERT_DIR) that goes into the bundle, picks the
// files that may be copied into it (never a CA private key), and, only when asked, generates a
// development CA with server and client certificates. It owns the rules for that directory; it
// must never create or change a file there except in Generate, and never overwrites one.
package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Well-known file names in the certificate directory.
const (
	RootCACert = "rootCA.crt"
	RootCAKey  = "rootCA.key"
	ServerCert = "server.crt"
	ServerKey  = "server.key"
	ClientCert = "client.crt"
	ClientKey  = "client.key"
)

// ErrRootCANotFound is wrapped by the error Check and BundleFiles return when dir/rootCA.crt is
// missing, so callers can tell "nothing set up yet" from a broken setup.
var ErrRootCANotFound = errors.New("Root CA not found")

// rootCAHint tells the user the two ways out of a missing root CA.
const rootCAHint = `set CERT_DIR to the directory that holds rootCA.crt, or create development certificates with "go run magefile.go certs:generate"`

// pemExts are the extensions Check parses; other files are bundled as they are.
var pemExts = []string{".crt", ".pem", ".key", ".cert"}

// publicKeyer is what every parsed private key offers (crypto.Signer keys and *ecdh.PrivateKey).
type publicKeyer interface {
	Public() crypto.PublicKey
}

// pemContents is what a PEM file holds, in file order.
type pemContents struct {
	blocks    int
	certs     []*x509.Certificate
	keys      []publicKeyer
	encrypted int // private keys we cannot read without a passphrase
}

// parsePEM decodes every PEM block in data. A CERTIFICATE or private key block that does not
// parse is an error; other block types (parameters, CSRs, CRLs) are counted but not interpreted.
func parsePEM(data []byte) (pemContents, error) {
	var c pemContents
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return c, nil
		}
		c.blocks++
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return c, fmt.Errorf("block %d (%s): %w", c.blocks, block.Type, err)
			}
			c.certs = append(c.certs, cert)
			continue
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		// Legacy OpenSSL encryption marks the block with a Proc-Type header; PKCS#8 encryption
		// uses its own block type. Neither can be read without the passphrase.
		if encryptedKey(block) {
			c.encrypted++
			continue
		}
		key, err := parsePrivateKey(block.Type, block.Bytes)
		if err != nil {
			return c, fmt.Errorf("block %d (%s): %w", c.blocks, block.Type, err)
		}
		c.keys = append(c.keys, key)
	}
}

// parsePrivateKey parses the DER of a private key block by its PEM type; an unknown type is
// tried as every encoding we know.
func parsePrivateKey(typ string, der []byte) (publicKeyer, error) {
	var (
		key any
		err error
	)
	switch typ {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	default:
		key, err = parseAnyDERKey(der)
	}
	if err != nil {
		return nil, err
	}
	pk, ok := key.(publicKeyer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return pk, nil
}

// parseAnyDERKey tries the DER private key encodings in turn.
func parseAnyDERKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC 1 private key")
}

// samePublicKey reports whether a and b are the same key; every key type the standard library
// parses has an Equal method.
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// notFound reports whether err means the path does not exist, including a path component that
// is a file rather than a directory.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// readRootCA reads and parses dir/rootCA.crt, turning "missing" into the user-facing error.
func readRootCA(dir string) ([]*x509.Certificate, error) {
	path := filepath.Join(dir, RootCACert)
	data, err := os.ReadFile(path)
	if notFound(err) {
		return nil, fmt.Errorf("%w at %s: %s", ErrRootCANotFound, path, rootCAHint)
	}
	if err != nil {
		return nil, fmt.Errorf("read root CA %s: %w", path, err)
	}
	c, err := parsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", RootCACert, err)
	}
	if len(c.certs) == 0 {
		return nil, fmt.Errorf("parse %s: no CERTIFICATE PEM block in %s: put the PEM-encoded root CA certificate there", RootCACert, path)
	}
	return c.certs, nil
}

// listFiles returns the relative paths, sorted, of the regular files under dir. Dotfiles and
// dot-directories are skipped: they are editor leftovers, VCS data or atomicfile temp files
// (".name.tmp-*"), never certificates. Symlinks to regular files count as the link's path (so
// Kubernetes-style secret mounts work); a symlink to a directory is refused rather than
// silently left out of the bundle.
func listFiles(dir string) ([]string, error) {
	// WalkDir does not descend into a root that is itself a symlink.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("list certificate directory %s: %w", dir, err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("list certificate directory %s: %w", dir, err)
		}
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
		case d.Type().IsRegular():
			files = append(files, rel)
		case d.Type()&fs.ModeSymlink != 0:
			fi, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("follow symlink %s in %s: %w: fix or remove the link", rel, dir, err)
			}
			if fi.IsDir() {
				return fmt.Errorf("follow symlink %s in %s: it points to a directory, which is not followed: copy the files instead", rel, dir)
			}
			if err := userfile.CheckInfo("CERT_DIR holds", path, fi); err != nil {
				return err
			}
			if fi.Mode().IsRegular() {
				files = append(files, rel)
			}
		default:
			// Sockets, FIFOs and devices cannot be bundled (and reading a FIFO would block):
			// refused, never left out silently.
			info, err := d.Info()
			if err != nil {
				return err
			}
			return userfile.CheckInfo("CERT_DIR holds", path, info)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// hasPEMExt reports whether Check parses the file.
func hasPEMExt(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range pemExts {
		if ext == e {
			return true
		}
	}
	return false
}

// BundleFiles returns the relative paths (sorted) of the files under dir to copy into the bundle:
// every regular file except CA private keys; a file holding an encrypted private key is refused
// (encryptedKeyError says why). A CA private key is a file named rootCA.key, or any
// file, whatever its name or extension, holding a private key (PEM or DER) whose public key is
// that of rootCA.crt or of any other CA certificate found under dir. The bundle is shipped as an
// image, so a leaked CA key would let anyone mint certificates the stack trusts.
func BundleFiles(dir string) ([]string, error) {
	roots, err := readRootCA(dir)
	if err != nil {
		return nil, fmt.Errorf("choose bundle files in %s: %w", dir, err)
	}
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	type fileKeys struct {
		rel  string
		keys []crypto.PublicKey
	}
	caKeys := make([]crypto.PublicKey, 0, len(roots))
	for _, c := range roots {
		caKeys = append(caKeys, c.PublicKey)
	}
	var candidates []fileKeys
	for _, rel := range files {
		if strings.EqualFold(filepath.Base(rel), RootCAKey) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return nil, fmt.Errorf("choose bundle files: read %s: %w", rel, err)
		}
		c := scanKeys(data)
		if c.encrypted > 0 {
			return nil, encryptedKeyError(dir, rel)
		}
		for _, cert := range c.certs {
			if cert.IsCA {
				caKeys = append(caKeys, cert.PublicKey)
			}
		}
		fk := fileKeys{rel: rel}
		for _, k := range c.keys {
			fk.keys = append(fk.keys, k.Public())
		}
		candidates = append(candidates, fk)
	}
	keep := make([]string, 0, len(candidates))
	for _, fk := range candidates {
		if !holdsAny(fk.keys, caKeys) {
			keep = append(keep, fk.rel)
		}
	}
	return keep, nil
}

// scanKeys is parsePEM without failing: it keeps whatever parses, block by block, and tries a
// file without PEM blocks as a DER private key. BundleFiles must find a CA key even in a file
// Check would reject.
func scanKeys(data []byte) pemContents {
	var c pemContents
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c.blocks++
		switch {
		case block.Type == "CERTIFICATE":
			if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
				c.certs = append(c.certs, cert)
			}
		case encryptedKey(block):
			c.encrypted++
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			if k, err := parsePrivateKey(block.Type, block.Bytes); err == nil {
				c.keys = append(c.keys, k)
			}
		}
	}
	if c.blocks == 0 {
		if k, err := parseAnyDERKey(data); err == nil {
			if pk, ok := k.(publicKeyer); ok {
				c.keys = append(c.keys, pk)
			}
		}
		if cert, err := x509.ParseCertificate(data); err == nil {
			c.certs = append(c.certs, cert)
		}
	}
	return c
}

func holdsAny(keys, caKeys []crypto.PublicKey) bool {
	for _, k := range keys {
		for _, ca := range caKeys {
			if samePublicKey(k, ca) {
				return true
			}
		}
	}
	return false
}

// encryptedKey reports whether a PEM block is a private key encrypted with a passphrase: PKCS#8
// ENCRYPTED PRIVATE KEY, or a legacy OpenSSL block marked by its Proc-Type header.
func encryptedKey(block *pem.Block) bool {
	return block.Type == "ENCRYPTED PRIVATE KEY" ||
		(strings.HasSuffix(block.Type, "PRIVATE KEY") && strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"))
}

// encryptedKeyError refuses an encrypted private key found in the certificate directory. Neither
// encryption shows the public key, so without the passphrase nothing can prove the key is not a
// copy of the CA's; the bundle is an image anyone holding it can read, and an encrypted CA key is
// only as safe as its passphrase. So it is refused always, whatever its name (rootCA.key itself
// is never bundled and is not refused).
func encryptedKeyError(dir, rel string) error {
	return fmt.Errorf("certificate directory %s: %s holds an encrypted private key, which is never bundled: without its passphrase nothing can show it is not a copy of the CA key; move it out of CERT_DIR (services need unencrypted keys anyway), or keep the CA key only as %s", dir, rel, RootCAKey)
}

// HoldsPrivateKey reports whether data holds a private key, by content: a PEM block of any
// private key type (PKCS#1, SEC 1, PKCS#8, encrypted, OpenSSH) or a DER-encoded private key.
// The bundle gives such files mode 0600 whatever their name.
func HoldsPrivateKey(data []byte) bool {
	rest := data
	found := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		found = true
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return true
		}
	}
	if found {
		return false
	}
	_, err := parseAnyDERKey(data)
	return err == nil
}
