module sipmedia/ngproto

go 1.26

require github.com/jackpal/bencode-go v1.0.2
