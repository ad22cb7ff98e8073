//! `hassette apps`: the app classes this binary knows.

use std::process::ExitCode;

use hassette_core::app::AppRegistry;

pub(crate) fn apps(registry: &AppRegistry) -> ExitCode {
    let rows: Vec<[String; 2]> = registry
        .classes()
        .map(|c| [c.name().to_owned(), c.type_name().to_owned()])
        .collect();
    if rows.is_empty() {
        super::print_out("no app classes are registered in this binary\n");
    } else {
        super::print_out(&super::check::table(&["CLASS", "TYPE"], &rows));
    }
    ExitCode::SUCCESS
}
