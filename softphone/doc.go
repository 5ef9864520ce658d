// Package softphone is the WebRTC audio gateway between Asterisk ExternalMedia RTP and
// the agents' browsers.
package softphone
