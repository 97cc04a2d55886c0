#!version:1.0.0.1
## softswitch: the boot file of {{ p.mac }} ({{ p.account }}); written by the switch, do not edit
include:config "{{ p.mac }}.cfg"
overwrite_mode = 1
