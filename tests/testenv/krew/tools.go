//go:build tools

// Package tools pins sigs.k8s.io/krew in go.mod/go.sum; build.sh builds its cmd/krew.
package tools

import _ "sigs.k8s.io/krew/cmd/krew"
