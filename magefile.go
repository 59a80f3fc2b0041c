//go:build ignore

// The zero-install bootstrap: `go run magefile.go <target>` runs the targets in magefiles/
// without a mage binary on the machine.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
