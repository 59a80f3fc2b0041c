// Command hello is the static binary enginetest's own test puts into a scratch image.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello from enginetest", os.Args[1:])
}
