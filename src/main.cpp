// medic: argv -> Options -> App -> exit code. Nothing else lives here.
#include "app/app.h"
#include "cli/options.h"

int main(int argc, char** argv) {
  const medic::cli::ParseOutcome parsed = medic::cli::parse(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  return medic::app::run(*parsed.options);
}
