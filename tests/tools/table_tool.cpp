// tests/tools/table_tool.cpp - answers table lookups like "postmap -q - type:name" for the oracle test.
//
// Usage: mailmoat_table_tool type:name < keys
// Prints "key<TAB>value" for every key (one per input line) that is found, "key<TAB>TEMPFAIL" for a
// temporary failure, nothing for keys not found. Exit 2 with the error if the table cannot be opened.
#include <iostream>
#include <string>

#include "common/table/table.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: mailmoat_table_tool type:name < keys\n";
        return 2;
    }
    std::shared_ptr<const mailmoat::table::Table> table;
    try {
        table = mailmoat::table::open_table(argv[1]);
    } catch (const mailmoat::table::TableError& e) {
        std::cerr << "mailmoat_table_tool: " << e.what() << "\n";
        return 2;
    }
    std::string key;
    while (std::getline(std::cin, key)) {
        mailmoat::table::Lookup r = table->lookup(key);
        if (r.status == mailmoat::table::Lookup::Status::found) std::cout << key << '\t' << r.value << '\n';
        else if (r.status == mailmoat::table::Lookup::Status::tempfail) std::cout << key << "\tTEMPFAIL\n";
    }
    return 0;
}
