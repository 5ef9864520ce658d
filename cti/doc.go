// Package cti orchestrates calls: it turns telephony events and agent commands into
// queue decisions and ARI operations, and serves the desktop API.
package cti
