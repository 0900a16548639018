// common/dmarc_report/xml_handles.hpp - RAII aliases for libxml2 and libzip handles; the only place their
// free functions are named.
#pragma once
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <zip.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::dmarc_report {

using XmlDoc = util::CHandle<xmlDoc, xmlFreeDoc>;
using XmlBuffer = util::CHandle<xmlBuffer, xmlBufferFree>;
using XmlWriter = util::CHandle<xmlTextWriter, xmlFreeTextWriter>;
using XmlParserCtxt = util::CHandle<xmlParserCtxt, xmlFreeParserCtxt>;
using ZipArchive = util::CHandle<zip_t, zip_discard>;
using ZipFile = util::CHandle<zip_file_t, zip_fclose>;
using ZipSource = util::CHandle<zip_source_t, zip_source_free>;

}  // namespace mailmoat::dmarc_report
