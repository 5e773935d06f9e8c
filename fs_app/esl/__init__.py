"""FreeSWITCH's Event Socket Layer (mod_event_socket), sans-IO: bytes in, messages and events out,
commands to bytes. Nothing here opens a socket."""
