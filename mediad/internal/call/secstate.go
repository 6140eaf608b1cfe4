package call

// mediaSecurityState is what we last wrote toward a party (for the
// WebRTC endpoints that terminate it).
type mediaSecurityState struct {
	sentProto string // m= protocol last written toward the party
	sentICE   bool   // ICE credentials and candidates were written
}
