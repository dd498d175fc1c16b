// automate: the command-line front-end. All logic lives in RunCli (cli.h).
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) { return automate::cli::RunCli(argc, argv, std::cout, std::cerr); }
