from attendance_cli.cli import main

main()
