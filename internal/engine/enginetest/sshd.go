package enginetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SSHHost starts a throwaway sshd on 127.0.0.1 that lets the current user in with a key made for
// this test, and puts an `ssh` first on PATH that uses that key and trusts that host, so an
// ssh://USER@127.0.0.1:PORT engine URL works like a remote build host. The remote side runs the
// docker CLI against this machine's default socket. remotePath are directories put first on the
// remote side's PATH (the commands a connection helper runs there, such as buildctl). It returns
// the URL (no path). Without an sshd on the machine the test is skipped — but fails under
// CI=true, whose scripts install it.
func SSHHost(t *testing.T, remotePath ...string) string {
	t.Helper()
	SkipWithoutDocker(t)
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	for _, bin := range []string{sshd, "ssh", "ssh-keygen", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			msg := fmt.Sprintf("%s is not installed (Debian: openssh-server, openssh-client, docker CLI)", bin)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + "; CI=true: scripts/with-docker installs it")
			}
			t.Skip(msg)
		}
	}
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		t.Skip("no engine on /var/run/docker.sock for the remote side's docker CLI")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostKey, userKey := filepath.Join(dir, "host_key"), filepath.Join(dir, "user_key")
	for _, k := range []string{hostKey, userKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %s: %v\n%s", k, err, out)
		}
	}
	pub, err := os.ReadFile(userKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	setPath := ""
	if len(remotePath) > 0 {
		// sshd applies SetEnv after its default PATH.
		setPath = "SetEnv PATH=" + strings.Join(append(remotePath, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ":") + "\n"
	}
	sshdConfig := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(sshdConfig, []byte(setPath+fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
`, port, hostKey, authorized, filepath.Join(dir, "sshd.pid"))), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege-separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "sshd.log")
	cmd := exec.Command(sshd, "-D", "-e", "-f", sshdConfig, "-E", log)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log)
			t.Fatalf("sshd did not listen on 127.0.0.1:%d: %v\n%s", port, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	sshConfig := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(sshConfig, []byte(fmt.Sprintf(`Host 127.0.0.1
  IdentityFile %s
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
`, userKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	realSSH, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", realSSH, sshConfig)
	if err := os.WriteFile(filepath.Join(binDir, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d", user, port)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
