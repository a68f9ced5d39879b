from pipeform.cli.app import main

main()
