//go:build !linux

package main

import (
	"context"
	"errors"
)

func initProcess(ctx context.Context, e *env) error {
	return errors.New("init runs only on Linux")
}
