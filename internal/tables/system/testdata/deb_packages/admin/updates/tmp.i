Package: journaled
Status: install ok installed
Architecture: amd64
Version: 6.6.6
