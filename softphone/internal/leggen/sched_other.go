//go:build !linux

package main

func ordinaryScheduling() error { return nil }
